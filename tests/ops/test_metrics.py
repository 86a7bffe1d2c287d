"""/metrics after a known sequence of pulls through a two-worker edge, /readyz following
the origin, and the JSON access log lines of those pulls."""
from __future__ import annotations

import json
import os
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ..faultproxy import FaultProxy
from ..nodeproc import NodeProcess
from ..ocisync import push_blob, request

KiB = 1024


def scrape(node: NodeProcess) -> dict[tuple[str, tuple], float]:
    status, _, body = request(node.url, "GET", "/metrics")
    assert status == 200
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    base = tmp_path_factory.mktemp("metrics")
    origin = NodeProcess(base / "origin")
    origin.start()
    proxy = FaultProxy(origin.url)
    proxy.start()
    edge = NodeProcess(base / "edge", "--origin", proxy.url, "--workers", "2", "--cache-max-bytes",
                       str(400 * KiB), env={"OCICACHE_CACHE_HIGH_WATERMARK": "1.0",
                                            "OCICACHE_CACHE_LOW_WATERMARK": "0.8",
                                            "OCICACHE_CACHE_ADMIT_FRACTION": "1.0"})
    edge.start()
    yield origin, proxy, edge
    edge.stop()
    proxy.stop()
    origin.stop()


def test_counters_after_a_known_sequence(fleet):
    origin, _proxy, edge = fleet
    a, b = os.urandom(300 * KiB), os.urandom(200 * KiB)
    da, db = push_blob(origin.url, "m/app", a), push_blob(origin.url, "m/app", b)
    # A miss, A hit, A hit, B miss (evicts A: 500 KiB > 400 KiB), A miss again (evicts B), unknown blob.
    for step, (digest, data) in enumerate(((da, a), (da, a), (da, a), (db, b), (da, a))):
        status, _, body = request(edge.url, "GET", f"/v2/m/app/blobs/{digest}",
                                  headers={"User-Agent": f"metrics-test/{step}"})
        assert status == 200 and body == data
    assert request(edge.url, "GET", f"/v2/m/app/blobs/sha256:{'0' * 64}")[0] == 404
    deadline = time.monotonic() + 5
    while value(s := scrape(edge), "ocicache_store_bytes") != len(a) and time.monotonic() < deadline:
        time.sleep(0.2)                                    # the store gauge follows the index each second
    assert value(s, "ocicache_store_bytes") == len(a)
    # 3 fills, and the unknown blob: its GET missed the store and asked the origin (one GET, no
    # HEAD first: the fill's GET is the question), which answered 404
    assert value(s, "ocicache_cache_lookups_total", result="miss") == 4
    assert value(s, "ocicache_cache_lookups_total", result="hit") == 2
    assert value(s, "ocicache_served_bytes_total", source="cache") == 2 * len(a)
    assert value(s, "ocicache_served_bytes_total", source="origin") == 2 * len(a) + len(b)
    assert value(s, "ocicache_origin_fetched_bytes_total") == 2 * len(a) + len(b)
    assert value(s, "ocicache_cache_evictions_total") == 2
    assert value(s, "ocicache_fill_duration_seconds_count", outcome="ok") == 3
    assert value(s, "ocicache_fills_in_flight") == 0
    assert value(s, "ocicache_http_requests_total", route="blob", method="GET", status="200") == 5
    assert value(s, "ocicache_http_requests_total", route="blob", method="GET", status="404") == 1
    assert value(s, "ocicache_origin_request_duration_seconds_count", method="GET") >= 3
    assert ("ocicache_rate_limited_requests_total", ()) in s
    o = scrape(origin)
    assert value(o, "ocicache_upload_bytes_total") == len(a) + len(b)
    assert value(o, "ocicache_served_bytes_total", source="local") == 2 * len(a) + len(b)   # what the edge fetched

    lines = [json.loads(line) for line in edge.log_path.read_text().splitlines() if line.startswith("{")]
    # each step's line by its User-Agent: two workers write their lines each at the end of its
    # loop turn, so a line may land in the file a moment after the next request's
    blob_lines = sorted((x for x in lines if x.get("route") == "blob" and x["status"] == 200),
                        key=lambda x: x["user_agent"])
    assert [x["user_agent"] for x in blob_lines] == [f"metrics-test/{step}" for step in range(5)]
    assert [(x["digest"], x["cache"], x["bytes"]) for x in blob_lines] == [
        (da, "miss", len(a)), (da, "hit", len(a)), (da, "hit", len(a)), (db, "miss", len(b)), (da, "miss", len(a))]
    assert all(x["repo"] == "m/app" and x["method"] == "GET" and x["client"] == "127.0.0.1"
               and x["duration_ms"] >= 0 and x["time"].endswith("Z") for x in blob_lines)


def test_readyz_follows_the_origin(fleet):
    _origin, proxy, edge = fleet
    assert request(edge.url, "GET", "/healthz")[0] == 200
    status, _, body = request(edge.url, "GET", "/readyz")
    assert status == 200 and json.loads(body)["ready"] is True
    proxy.status_override = 503
    try:
        status, _, body = request(edge.url, "GET", "/readyz")
        checks = {c["name"]: c for c in json.loads(body)["checks"]}
        assert status == 503 and not checks["origin"]["ok"] and "503" in checks["origin"]["detail"]
        assert checks["disk"]["ok"]
        assert request(edge.url, "GET", "/healthz")[0] == 200    # alive, just not ready
    finally:
        proxy.reset()
    assert request(edge.url, "GET", "/readyz")[0] == 200


def test_readyz_fails_when_the_origin_is_gone(tmp_path):
    dead = NodeProcess(tmp_path / "edge", "--origin", "http://127.0.0.1:9", env={"OCICACHE_OPS_READY_ORIGIN_TIMEOUT": "1"})
    dead.start()
    try:
        status, _, body = request(dead.url, "GET", "/readyz")
        assert status == 503 and "unreachable" in body.decode()
    finally:
        dead.stop()
