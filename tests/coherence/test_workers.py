"""Read-your-writes across the worker processes of one node (issue 14).

Every request opens a new connection, so consecutive requests land on either worker.
Each round pushes an image, reads it back by tag, by digest and its layer, deletes the
manifest, the tag and the layer, and reads again: an answer naming the old state is stale.
"""
from __future__ import annotations

import pytest

from ..conftest import s3_overrides
from ..nodeproc import NodeProcess
from .http1 import push_image, request

ROUNDS = 100
ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json"}


def _node(tmp_path, request_, origin: str) -> NodeProcess:
    if origin == "s3":
        s3server = request_.getfixturevalue("s3server")
        bucket = s3server.new_bucket()
        env = {**s3server.env, "OCICACHE_CACHE_TAG_TTL": "30"}
        return NodeProcess(tmp_path / "node", "--workers", "2", "--origin", f"s3://{bucket}/rw", env=env)
    return NodeProcess(tmp_path / "node", "--workers", "2", env={"OCICACHE_CACHE_TAG_TTL": "30"})


def _round(hostport: str, repo: str, n: int) -> list[str]:
    stale: list[str] = []
    manifest, layer = push_image(hostport, repo, "latest", f"round {n}")
    status, headers, _ = request(hostport, "HEAD", f"/v2/{repo}/manifests/latest", headers=ACCEPT)
    if status != 200 or headers.get("docker-content-digest") != manifest:
        stale.append(f"round {n}: tag after push: {status} {headers.get('docker-content-digest')}")
    for path in (f"/v2/{repo}/manifests/{manifest}", f"/v2/{repo}/blobs/{layer}"):
        status, _, _ = request(hostport, "HEAD", path, headers=ACCEPT)
        if status != 200:
            stale.append(f"round {n}: {path} after push: {status}")
    for path in (f"/v2/{repo}/manifests/{manifest}", f"/v2/{repo}/blobs/{layer}"):
        status, _, body = request(hostport, "DELETE", path)
        assert status == 202, (path, status, body)
        status, _, _ = request(hostport, "HEAD", path, headers=ACCEPT)
        if status != 404:
            stale.append(f"round {n}: {path} after delete: {status}")
    status, _, _ = request(hostport, "HEAD", f"/v2/{repo}/manifests/latest", headers=ACCEPT)
    if status != 404:
        stale.append(f"round {n}: tag after its manifest was deleted: {status}")
    return stale


@pytest.mark.parametrize("origin", ["dir", "s3"])
def test_push_then_read_and_delete_then_read_on_two_workers(tmp_path, request, origin):
    node = _node(tmp_path, request, origin)
    node.start()
    try:
        stale: list[str] = []
        for n in range(ROUNDS):
            stale += _round(node.hostport, "rw/app", n)
        print(f"{origin}: {ROUNDS} rounds, {len(stale)} stale answers")
        assert stale == []
    finally:
        node.stop()
