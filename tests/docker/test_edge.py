"""`docker pull` through an edge node: cold (one origin fetch per blob), warm (nothing from the
origin), and by digest with the origin stopped."""
from __future__ import annotations

import shutil

import pytest

from ..nodeproc import NodeProcess
from .helpers import (EdgeCounters, blobs_of, load, manifest_of, origin_requests, push, repo_digest,
                      requests_between, requests_served, tiny_layout)

pytestmark = pytest.mark.docker
KiB = 1024


def test_pull_through_an_edge_cold_then_warm(docker, origin, make_edge, tmp_path):
    layout = tiny_layout(tmp_path / "src", 64 * KiB, 256 * KiB, 128 * KiB)
    repo = "dk/edge-cold-warm"
    load(docker, layout, f"{origin.hostport}/{repo}:v1", tmp_path)
    pushed = push(docker, f"{origin.hostport}/{repo}:v1")
    blobs = blobs_of(manifest_of(origin.url, repo, "v1"))
    docker.clean_images()
    edge = make_edge(origin.url, OCICACHE_CACHE_TAG_TTL="3600")   # the warm pull must not revalidate the tag
    ref = f"{edge.hostport}/{repo}:v1"

    counters, origin_gets = EdgeCounters(edge), requests_served(origin, "blob")
    docker.run("pull", ref)
    cold = counters.delta()
    # misses: every blob, plus the manifest (fetched from the origin once, then kept)
    assert (cold["fills"], cold["misses"], cold["fetched"]) == (len(blobs), len(blobs) + 1, sum(blobs.values())), cold
    assert requests_served(origin, "blob") - origin_gets == len(blobs)   # one GET per blob at the origin
    assert repo_digest(docker, ref, f"{edge.hostport}/{repo}") == pushed
    assert docker.inspect(ref)["Id"] == layout.image().config_digest

    docker.clean_images()
    counters, seen_by_origin = EdgeCounters(edge), origin_requests(origin)
    out = docker.run("pull", ref)
    assert "Downloaded newer image" in out, out                   # the engine fetched it all again...
    warm = counters.delta()
    assert (warm["fills"], warm["fetched"], warm["misses"]) == (0, 0, 0), warm
    assert warm["hits"] >= len(blobs), warm                     # every blob (and the manifest) from the store
    asked = requests_between(seen_by_origin, origin_requests(origin))
    # ...and fetched nothing from the origin. The tag cache is per worker: a worker that did not
    # serve the cold pull may revalidate the tag once (a HEAD); that is all the origin may see.
    assert set(asked) <= {("manifest", "HEAD")} and asked.get(("manifest", "HEAD"), 0) <= 2, asked
    assert repo_digest(docker, ref, f"{edge.hostport}/{repo}") == pushed


def test_pull_by_digest_through_an_edge_after_the_origin_stopped(docker, make_edge, tmp_path):
    own_origin = NodeProcess(tmp_path / "origin")
    own_origin.start()
    try:
        layout = tiny_layout(tmp_path / "src", 100 * KiB, 20 * KiB)
        repo = "dk/edge-offline"
        load(docker, layout, f"{own_origin.hostport}/{repo}:v1", tmp_path)
        pushed = push(docker, f"{own_origin.hostport}/{repo}:v1")
        docker.clean_images()
        edge = make_edge(own_origin.url)
        by_digest = f"{edge.hostport}/{repo}@{pushed}"
        docker.run("pull", by_digest)                              # cold: fills the edge
        docker.clean_images()
    finally:
        own_origin.stop()
        shutil.rmtree(own_origin.data_dir, ignore_errors=True)

    counters = EdgeCounters(edge)
    docker.run("pull", by_digest)                                  # the origin is gone: served from the cache
    assert docker.inspect(by_digest)["Id"] == layout.image().config_digest
    assert counters.delta()["fills"] == 0
