"""Bounded staleness across a fleet (issue 14): two nodes on one bucket and an edge in front of
node A, link_ttl a few seconds. A manifest and a blob deleted through node A answer 404 on
node B and on the edge within link_ttl (measured and printed), and are gone from their stores."""
from __future__ import annotations

import time

from ..coherence.http1 import push_image, request
from ..nodeproc import NodeProcess
from .conftest import FLEET_ENV

LINK_TTL = 3.0
SLACK = 2.0  # the poll interval, a worker busy with the test's own requests
ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json"}


def blob_file(node: NodeProcess, digest: str):
    hexd = digest.split(":", 1)[1]
    return node.data_dir / "cache" / "blobs" / "sha256" / hexd[:2] / hexd


def seconds_until_404(node: NodeProcess, path: str, deleted_at: float, limit: float) -> float:
    while True:
        status = request(node.hostport, "HEAD", path, headers=ACCEPT)[0]
        took = time.monotonic() - deleted_at
        if status == 404:
            return took
        assert status == 200, f"{node.url}{path}: {status}"
        assert took < limit, f"{node.url}{path} still 200 {took:.1f} s after the delete"
        time.sleep(0.2)


def test_deletes_through_one_node_reach_the_other_and_the_edge(tmp_path, s3server, bucket):
    env = {**s3server.env, **FLEET_ENV, "OCICACHE_CACHE_LINK_TTL": str(LINK_TTL)}
    a = NodeProcess(tmp_path / "a", "--origin", f"s3://{bucket}/fleet", env=env)
    b = NodeProcess(tmp_path / "b", "--origin", f"s3://{bucket}/fleet", env=env)
    started = []
    try:
        for node in (a, b):
            node.start()
            started.append(node)
        edge = NodeProcess(tmp_path / "edge", "--origin", a.url, env={**FLEET_ENV, "OCICACHE_CACHE_LINK_TTL": str(LINK_TTL)})
        edge.start()
        started.append(edge)
        manifest, layer = push_image(a.hostport, "fleet/gone", "v1", "to be deleted")
        paths = {"manifest": f"/v2/fleet/gone/manifests/{manifest}", "blob": f"/v2/fleet/gone/blobs/{layer}"}
        for node in (b, edge):
            for path in paths.values():
                assert request(node.hostport, "GET", path, headers=ACCEPT)[0] == 200
            assert blob_file(node, layer).exists() and blob_file(node, manifest).exists()
        for path in paths.values():
            assert request(a.hostport, "DELETE", path)[0] == 202
        deleted_at = time.monotonic()
        for name, node in (("node B", b), ("edge", edge)):
            for kind, path in paths.items():
                took = seconds_until_404(node, path, deleted_at, LINK_TTL + SLACK)
                print(f"{kind} deleted through node A: 404 on {name} after {took:.1f} s (link_ttl {LINK_TTL:g} s)")
            assert not blob_file(node, layer).exists(), f"{name} still stores the deleted blob"
            assert not blob_file(node, manifest).exists(), f"{name} still stores the deleted manifest"
    finally:
        for node in started:
            node.stop()
