"""One tag cache for the workers of an edge (issue 14): with the origin stopped, a cached tag
answers the same on every worker: 200 within stale_if_error, 503 after it."""
from __future__ import annotations

import os
import time

from ..coherence.http1 import request
from .origins import push_image

ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
TAG_TTL, STALE_IF_ERROR = 1.0, 12.0


def heads(edge, path: str, count: int = 20) -> list[int]:
    return [request(edge.hostport, "HEAD", path, headers=ACCEPT)[0] for _ in range(count)]


def test_stale_if_error_is_the_same_on_every_worker(origin, proxy, make_edge):
    digest = push_image(origin.url, "edge/workers", "v1", os.urandom(1000))
    edge = make_edge("--workers", "2", OCICACHE_CACHE_TAG_TTL=str(TAG_TTL),
                     OCICACHE_CACHE_STALE_IF_ERROR=str(STALE_IF_ERROR))
    path = "/v2/edge/workers/manifests/v1"
    status, headers, _ = request(edge.hostport, "GET", path, headers=ACCEPT)  # one worker fills it
    cached_at = time.monotonic()
    assert (status, headers.get("docker-content-digest")) == (200, digest)
    proxy.stop()                                   # the origin is gone
    time.sleep(TAG_TTL + 0.2)                      # past tag_ttl: every answer is a revalidation
    within = heads(edge, path)
    took = time.monotonic() - cached_at
    print(f"within stale_if_error ({took:.1f} s after caching): {within}")
    assert took < TAG_TTL + STALE_IF_ERROR, "the 20 HEADs took longer than the window; raise STALE_IF_ERROR"
    assert within == [200] * 20
    time.sleep(max(0.0, cached_at + TAG_TTL + STALE_IF_ERROR + 0.5 - time.monotonic()))
    after = heads(edge, path)
    print(f"after stale_if_error: {after}")
    assert after == [503] * 20
