"""Whole image pulls through an edge, against each kind of origin (tests/edge/origins.py):
8 concurrent cold pulls cost the origin one request per tag, manifest and blob (a blob's one
GET, no HEAD), warm pulls none; a stale tag is revalidated with one HEAD; a tag deleted at the origin is seen once its
TTL is past; an origin that goes down is covered by stale-if-error, then reported cleanly."""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import threading
import time
from collections import Counter

from ..ocisync import OCI_MANIFEST, request, sha
from .origins import delete_manifest, push_blob, push_image

MiB = 1024 * 1024
ACCEPT = {"Accept": OCI_MANIFEST}


def streamed_digest(url: str, path: str) -> str:
    """GET a blob, hashing it as it arrives (never held whole); its digest."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        assert resp.status == 200, (path, resp.status, resp.read(500))
        hasher = hashlib.sha256()
        while chunk := resp.read(MiB):
            hasher.update(chunk)
        return "sha256:" + hasher.hexdigest()
    finally:
        conn.close()


def pull(url: str, repo: str, tag: str) -> tuple[str, list[str]]:
    """One full pull: (manifest digest, blob digests), every digest checked against the bytes."""
    status, headers, body = request(url, "GET", f"/v2/{repo}/manifests/{tag}", headers=ACCEPT)
    assert status == 200, body
    assert headers["Docker-Content-Digest"] == sha(body)
    manifest = json.loads(body)
    blobs = [d["digest"] for d in [manifest["config"], *manifest["layers"]]]
    for digest in blobs:
        assert streamed_digest(url, f"/v2/{repo}/blobs/{digest}") == digest
    return sha(body), blobs


def concurrently(clients: int, call, *args) -> list:
    """Results of `call(*args)` run by `clients` threads released together (an exception is a result)."""
    barrier, results = threading.Barrier(clients), []

    def run() -> None:
        barrier.wait()
        try:
            results.append(call(*args))
        except Exception as exc:  # reported by the caller's assert, with the others
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def sent(proxy) -> Counter:
    return Counter((method, path) for method, path, _ in proxy.requests)


def tag_answer(edge, repo: str, tag: str) -> tuple[int, str]:
    status, headers, body = request(edge.url, "GET", f"/v2/{repo}/manifests/{tag}", headers=ACCEPT)
    return status, headers["Docker-Content-Digest"] if status == 200 else json.loads(body)["errors"][0]


def test_8_cold_pulls_cost_one_origin_request_each_then_warm_pulls_none(origin, proxy, make_edge):
    want = push_image(origin.url, "pull/app", "v1", *(os.urandom(2 * MiB) for _ in range(3)))
    edge = make_edge(OCICACHE_CACHE_TAG_TTL="60")
    proxy.delay_s = 0.3                             # every origin answer is late: the 8 clients pile up
    results = concurrently(8, pull, edge.url, "pull/app", "v1")
    assert len(results) == 8 and all(r == results[0] for r in results), results
    digest, blobs = results[0]
    assert digest == want and len(blobs) == 4
    expected = Counter({("HEAD", "/v2/pull/app/manifests/v1"): 1, ("GET", f"/v2/pull/app/manifests/{want}"): 1})
    for blob in blobs:  # the fill's GET gives the size: no HEAD
        expected[("GET", f"/v2/pull/app/blobs/{blob}")] = 1
    assert sent(proxy) == expected, proxy.requests
    proxy.reset()
    assert concurrently(8, pull, edge.url, "pull/app", "v1") == [(want, blobs)] * 8
    assert proxy.requests == []                     # warm: tag fresh, manifest and blobs cached


def test_stale_tag_is_revalidated_with_one_head(origin, proxy, make_edge):
    want = push_image(origin.url, "pull/ttl", "v1", os.urandom(1000))
    edge = make_edge()                              # tag_ttl 1 s
    assert pull(edge.url, "pull/ttl", "v1")[0] == want
    time.sleep(1.2)
    proxy.reset()
    proxy.delay_s = 0.3
    assert concurrently(4, tag_answer, edge, "pull/ttl", "v1") == [(200, want)] * 4
    assert proxy.requests == [("HEAD", "/v2/pull/ttl/manifests/v1", 200)]  # the manifest is cached by digest


def test_tag_deleted_at_the_origin_is_gone_after_the_ttl(origin, proxy, make_edge):
    want = push_image(origin.url, "pull/gone", "v1", os.urandom(1000))
    edge = make_edge()                              # tag_ttl 1 s
    assert tag_answer(edge, "pull/gone", "v1") == (200, want)
    delete_manifest(origin.url, "pull/gone", want)
    assert tag_answer(edge, "pull/gone", "v1") == (200, want)   # within the TTL: cached
    time.sleep(1.2)
    status, error = tag_answer(edge, "pull/gone", "v1")
    assert status == 404 and error["code"] == "MANIFEST_UNKNOWN", error
    assert "v1" in error["message"] and "pull/gone" in error["message"] and proxy.url in error["message"]
    assert tag_answer(edge, "pull/gone", "v1") == (404, error)   # the negative cache says the same


def test_origin_down_stale_if_error_then_a_clean_oci_error(origin, proxy, make_edge):
    want = push_image(origin.url, "pull/down", "v1", os.urandom(100_000))
    never_pulled = push_blob(origin.url, "pull/down", os.urandom(1000))
    edge = make_edge()                              # tag_ttl 1 s + stale_if_error 2 s
    digest, blobs = pull(edge.url, "pull/down", "v1")
    proxy.stop()                                    # nothing listens there any more
    time.sleep(1.2)
    assert pull(edge.url, "pull/down", "v1") == (digest, blobs)   # stale tag, cached content
    status, _, body = request(edge.url, "GET", f"/v2/pull/down/blobs/{never_pulled}")
    error = json.loads(body)["errors"][0]
    assert status == 503 and error["code"] == "UNAVAILABLE", body
    assert proxy.url in error["message"] and never_pulled in error["message"], error
    time.sleep(2.0)
    status, error = tag_answer(edge, "pull/down", "v1")
    assert status == 503 and error["code"] == "UNAVAILABLE", error
    assert proxy.url in error["message"] and "pull/down" in error["message"], error
    assert request(edge.url, "GET", f"/v2/pull/down/manifests/{want}", headers=ACCEPT)[0] == 200
