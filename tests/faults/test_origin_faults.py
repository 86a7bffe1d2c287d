"""The origin misbehaves during a fill: it drops every connection, stalls past the timeout,
never answers, answers 5xx or 429, or is down entirely. Waiting clients get a clean failure
(an OCI error before the headers, or a connection closed before the last byte, never a wrong
byte), nothing is committed, and the next pull succeeds. Wrong bytes: tests/edge/test_fills.py."""
from __future__ import annotations

import json
import os
import time

import pytest

from ..ocisync import push_blob, push_image, request
from .probes import cached_files, metric, partial_files, settle
from .pulls import MiB, pull, pull_many

FAST = {"OCICACHE_STORAGE_ORIGIN_TIMEOUT": "1", "OCICACHE_CACHE_FILL_RETRIES": "2"}


def blob_gets(proxy) -> list[tuple[str, str, int]]:
    return [r for r in proxy.requests if r[0] == "GET" and "/blobs/sha256:" in r[1]]


def assert_clean(edge) -> None:
    assert cached_files(edge) == []
    assert settle(lambda: partial_files(edge), []) == []
    assert settle(lambda: metric(edge, "ocicache_fills_in_flight"), 0.0) == 0.0


def test_origin_drops_every_connection_clients_fail_clean_then_next_pull_succeeds(origin, proxy, make_edge):
    data = os.urandom(8 * MiB)
    digest = push_blob(origin.url, "faults/drop", data)
    edge = make_edge(**FAST)
    proxy.reset()
    proxy.drop_after, proxy.drop_every = MiB, True   # each GET, first or resumed, is cut after 1 MiB
    pulls = pull_many(edge.url, f"/v2/faults/drop/blobs/{digest}", 3)
    for p in pulls:
        assert p.status == 200 and p.length == len(data)
        assert not p.complete and p.error in ("IncompleteRead", "closed early"), p.error
        assert len(p.body) < len(data) and p.prefix_of(data)
    assert len(blob_gets(proxy)) == 3, proxy.requests   # one fill for 3 clients: the GET and 2 resumes
    assert_clean(edge)
    proxy.reset()
    p = pull(edge.url, f"/v2/faults/drop/blobs/{digest}")
    assert p.complete and p.body == data
    assert cached_files(edge) == [digest[7:]]


def test_origin_stalls_mid_body_past_the_timeout(origin, proxy, make_edge):
    data = os.urandom(16 * MiB)
    digest = push_blob(origin.url, "faults/stall", data)
    edge = make_edge(**FAST)
    proxy.reset()
    proxy.stall_after = 3 * MiB                      # every body stops after 3 MiB, socket left open
    start = time.monotonic()
    pulls = pull_many(edge.url, f"/v2/faults/stall/blobs/{digest}", 2)
    elapsed = time.monotonic() - start
    for p in pulls:
        assert p.status == 200 and not p.complete and p.prefix_of(data), p
    assert len(blob_gets(proxy)) == 3, proxy.requests   # 3 attempts of 1 s silence each, then give up
    assert elapsed < 15, f"clients waited {elapsed:.1f}s for an origin timeout of 1 s"
    assert_clean(edge)
    proxy.stall_after = None
    p = pull(edge.url, f"/v2/faults/stall/blobs/{digest}")
    assert p.complete and p.body == data
    assert cached_files(edge) == [digest[7:]]


def test_origin_never_answers_gives_503_not_a_hang(origin, proxy, make_edge):
    data = os.urandom(MiB)
    digest = push_blob(origin.url, "faults/hang", data)
    edge = make_edge(**FAST)
    proxy.reset()
    proxy.hang, proxy.hang_kinds = True, {"blob"}
    start = time.monotonic()
    status, headers, body = request(edge.url, "GET", f"/v2/faults/hang/blobs/{digest}", timeout=60)
    elapsed = time.monotonic() - start
    assert status == 503, body
    error = json.loads(body)["errors"][0]
    assert error["code"] == "UNAVAILABLE" and proxy.url in error["message"]
    assert 1 <= elapsed < 15, elapsed
    assert_clean(edge)
    proxy.hang = False
    assert request(edge.url, "GET", f"/v2/faults/hang/blobs/{digest}")[2] == data


@pytest.mark.parametrize("status", [500, 503])
def test_origin_5xx_transient_is_retried_persistent_is_503(origin, proxy, make_edge, status):
    data = os.urandom(MiB)
    digest = push_blob(origin.url, f"faults/e{status}", data)
    edge = make_edge(**FAST)
    proxy.reset()
    proxy.status_override, proxy.status_kinds, proxy.status_times = status, {"blob"}, 2
    assert request(edge.url, "GET", f"/v2/faults/e{status}/blobs/{digest}")[2] == data
    assert [r[2] for r in proxy.requests if "/blobs/" in r[1]][:3] == [status, status, 200]
    other = os.urandom(MiB)
    other_digest = push_blob(origin.url, f"faults/e{status}", other)
    proxy.reset()
    proxy.status_override, proxy.status_kinds = status, {"blob"}
    start = time.monotonic()
    code, _, body = request(edge.url, "GET", f"/v2/faults/e{status}/blobs/{other_digest}")
    assert code == 503 and json.loads(body)["errors"][0]["code"] == "UNAVAILABLE"
    assert f"answered {status}" in body.decode()
    assert time.monotonic() - start < 5
    assert cached_files(edge) == [digest[7:]]


def test_origin_429_is_waited_out_once_then_503_with_retry_after(origin, proxy, make_edge):
    data = os.urandom(MiB)
    digest = push_blob(origin.url, "faults/throttled", data)
    edge = make_edge(**FAST)
    proxy.reset()
    proxy.status_override, proxy.status_kinds, proxy.retry_after, proxy.status_times = 429, {"blob"}, "1", 1
    assert request(edge.url, "GET", f"/v2/faults/throttled/blobs/{digest}")[2] == data
    other = os.urandom(MiB)
    other_digest = push_blob(origin.url, "faults/throttled", other)
    proxy.reset()
    proxy.status_override, proxy.status_kinds, proxy.retry_after = 429, {"blob"}, "1"
    status, headers, body = request(edge.url, "GET", f"/v2/faults/throttled/blobs/{other_digest}")
    assert status == 503 and headers["Retry-After"] == "1", body
    assert json.loads(body)["errors"][0]["code"] == "UNAVAILABLE"
    assert cached_files(edge) == [digest[7:]]


def test_origin_down_entirely_cached_serves_uncached_fails_fast(origin, proxy, make_edge):
    layer = os.urandom(2 * MiB)
    manifest_digest = push_image(origin.url, "faults/down", "v1", layer)
    missing = os.urandom(MiB)
    missing_digest = push_blob(origin.url, "faults/down", missing)
    edge = make_edge()
    status, _, manifest = request(edge.url, "GET", f"/v2/faults/down/manifests/{manifest_digest}")
    assert status == 200
    layer_digest = json.loads(manifest)["layers"][0]["digest"]
    assert request(edge.url, "GET", f"/v2/faults/down/blobs/{layer_digest}")[2] == layer
    proxy.stop()                                     # connection refused from now on
    for _ in range(3):
        status, headers, body = request(edge.url, "GET", f"/v2/faults/down/blobs/{layer_digest}")
        assert status == 200 and body == layer
        assert request(edge.url, "GET", f"/v2/faults/down/manifests/{manifest_digest}")[2] == manifest
    start = time.monotonic()
    status, _, body = request(edge.url, "GET", f"/v2/faults/down/blobs/{missing_digest}")
    elapsed = time.monotonic() - start
    assert status == 503
    error = json.loads(body)["errors"][0]
    assert error["code"] == "UNAVAILABLE" and proxy.url in error["message"]
    assert elapsed < 3, f"an unreachable origin took {elapsed:.1f}s to report"
    assert request(edge.url, "GET", "/readyz")[0] == 503


def test_origin_down_after_restart_cached_blob_still_serves(origin, proxy, make_edge):
    data = os.urandom(MiB)
    digest = push_blob(origin.url, "faults/downrestart", data)
    edge = make_edge()
    assert request(edge.url, "GET", f"/v2/faults/downrestart/blobs/{digest}")[2] == data
    edge.stop()
    proxy.stop()
    edge.start()
    status, _, body = request(edge.url, "GET", f"/v2/faults/downrestart/blobs/{digest}")
    assert status == 200 and body == data
