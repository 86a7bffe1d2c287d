"""Tags at the edge: a moved tag is seen within the TTL; a failing origin is covered by
stale-if-error for a bounded time, then the failure is reported cleanly."""
from __future__ import annotations

import json
import os
import time

from ..ocisync import request
from .origins import push_image

ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json"}


def tag_digest(edge, repo: str, tag: str) -> tuple[int, str | None]:
    status, headers, body = request(edge.url, "GET", f"/v2/{repo}/manifests/{tag}", headers=ACCEPT)
    return status, headers.get("Docker-Content-Digest") if status == 200 else json.loads(body)["errors"][0]["code"]


def test_moved_tag_seen_within_ttl(origin, proxy, make_edge):
    first = push_image(origin.url, "edge/tags", "v1", os.urandom(1000))
    edge = make_edge()                              # tag_ttl = 1 s
    assert tag_digest(edge, "edge/tags", "v1") == (200, first)
    second = push_image(origin.url, "edge/tags", "v1", os.urandom(1000))
    assert tag_digest(edge, "edge/tags", "v1") == (200, first)   # within the TTL: cached
    time.sleep(1.2)
    assert tag_digest(edge, "edge/tags", "v1") == (200, second)
    by_digest = request(edge.url, "GET", f"/v2/edge/tags/manifests/{second}", headers=ACCEPT)[1]
    assert "immutable" in by_digest["Cache-Control"]
    by_tag = request(edge.url, "GET", "/v2/edge/tags/manifests/v1", headers=ACCEPT)[1]
    assert "Cache-Control" not in by_tag


def test_stale_if_error_then_clean_failure(origin, proxy, make_edge):
    digest = push_image(origin.url, "edge/stale", "v1", os.urandom(1000))
    edge = make_edge()                              # tag_ttl 1 s + stale_if_error 2 s
    assert tag_digest(edge, "edge/stale", "v1") == (200, digest)
    proxy.status_override = 503
    time.sleep(1.2)
    assert tag_digest(edge, "edge/stale", "v1") == (200, digest)  # stale, origin failing
    time.sleep(2.0)
    assert tag_digest(edge, "edge/stale", "v1") == (503, "UNAVAILABLE")
    proxy.status_override = None
    assert tag_digest(edge, "edge/stale", "v1") == (200, digest)


def test_unknown_tag_is_404_and_cached_briefly(origin, proxy, make_edge):
    edge = make_edge()
    push_image(origin.url, "edge/neg", "v1", os.urandom(1000))
    assert tag_digest(edge, "edge/neg", "nope") == (404, "MANIFEST_UNKNOWN")
    proxy.reset()
    assert tag_digest(edge, "edge/neg", "nope") == (404, "MANIFEST_UNKNOWN")
    assert proxy.counts[("HEAD", "manifest")] == 0   # answered from the negative cache
