"""`docker push` through an edge node (issue 15): the edge writes it through to its origin (an
ocicache node), which then serves the manifest docker reported and every blob; `docker pull`
from the edge right after is served from the edge's store (no fill, no miss)."""
from __future__ import annotations

import pytest

from ..ocisync import request, sha
from .helpers import EdgeCounters, blobs_of, content_digest, load, manifest_of, push, repo_digest, tiny_layout

pytestmark = pytest.mark.docker
KiB = 1024


def test_docker_push_through_an_edge_lands_at_the_origin(docker, origin, make_edge, tmp_path):
    layout = tiny_layout(tmp_path / "src", 96 * KiB, 32 * KiB)
    edge = make_edge(origin.url)
    repo, ref = "dk/push-edge", f"{edge.hostport}/dk/push-edge:v1"
    load(docker, layout, ref, tmp_path)
    pushed = push(docker, ref)

    assert content_digest(origin.url, repo, "v1") == pushed
    blobs = blobs_of(manifest_of(origin.url, repo, "v1"))
    assert layout.image().config_digest in blobs and len(blobs) == 3   # docker compresses the layers anew
    for digest, size in blobs.items():
        status, _, body = request(origin.url, "GET", f"/v2/{repo}/blobs/{digest}")
        assert (status, len(body), sha(body)) == (200, size, digest), f"the origin's {digest}: {status}"

    docker.clean_images()
    counters = EdgeCounters(edge)
    out = docker.run("pull", ref)
    assert "Downloaded newer image" in out, out                 # the engine fetched every blob again
    seen = counters.delta()
    assert (seen["fills"], seen["fetched"], seen["misses"]) == (0, 0, 0), seen
    assert seen["hits"] >= len(blobs), seen
    assert repo_digest(docker, ref, f"{edge.hostport}/{repo}") == pushed
    assert docker.inspect(ref)["Id"] == layout.image().config_digest
