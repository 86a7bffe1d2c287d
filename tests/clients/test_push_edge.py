"""Real clients push through an edge (issue 15): skopeo, podman, buildah and oras-py push one
small image each to an edge node whose origin is another ocicache node (`--origin http://...
--workers 2`); the origin then holds it (pulled from the origin directly with skopeo: the digest
the client reported, every blob rehashed) and a pull from the edge right after is a cache hit
(`scenarios.EdgeInFront.check`), and another edge in front of the same origin serves the same
digests. skopeo also pushes through an edge in front of CNCF distribution. The Docker engine's push through an edge is in tests/docker/test_push_edge.py.
"""
from __future__ import annotations

import random
import shutil

import pytest

from ..distribution import Distribution
from ..nodeproc import NodeProcess
from . import orasclient
from .containers import Buildah, Podman, Storage
from .scenarios import EdgeInFront
from .verify import file_sha256

pytestmark = pytest.mark.clients


@pytest.fixture(scope="module")
def target(origin_and_edge, tmp_path_factory):
    origin, edge = origin_and_edge
    other = NodeProcess(tmp_path_factory.mktemp("other-edge") / "node", "--origin", origin.url)
    try:
        other.start()
        yield EdgeInFront(origin, edge, tmp_path_factory.mktemp("pulled"), other_edge=other)
    finally:
        other.stop()


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    store = Storage(tmp_path_factory.mktemp("containers-storage"))
    yield store
    store.remove()


def _digest_file(tmp_path) -> str:
    return (tmp_path / "digest").read_text().strip()


def test_skopeo_push_through_edge(target, image_layout):
    layout = image_layout("small", seed=15)
    target.skopeo.copy(layout.ref, f"docker://{target.ref('pushedge/skopeo')}")
    blobs = target.check("pushedge/skopeo", layout.manifest_digest)
    assert blobs == layout.blob_digests


def test_skopeo_push_through_edge_in_front_of_distribution(image_layout, tmp_path):
    layout = image_layout("multiarch", seed=15)
    registry = Distribution(tmp_path / "registry").start()
    edge = NodeProcess(tmp_path / "edge", "--origin", registry.url, "--workers", "2")
    try:
        edge.start()
        dist = EdgeInFront(registry, edge, tmp_path / "pulled")
        amd64 = layout.image("linux/amd64")
        dist.skopeo.copy(layout.ref, f"docker://{dist.ref('pushedge/dist')}")   # this machine's platform
        blobs = dist.check("pushedge/dist", amd64.digest)
        assert blobs == {amd64.config_digest, *(layer.digest for layer in amd64.layers)}
    finally:
        edge.stop()
        registry.stop()


def test_podman_push_through_edge(target, image_layout, storage, tmp_path):
    podman, layout = Podman(storage), image_layout("small", seed=16)
    image_id = podman.pull(layout.ref)
    podman("push", "--tls-verify=false", "--digestfile", str(tmp_path / "digest"), image_id,
           f"docker://{target.ref('pushedge/podman')}")
    blobs = target.check("pushedge/podman", _digest_file(tmp_path))
    assert layout.image().config_digest in blobs and len(blobs) == 2


def test_buildah_push_through_edge(target, storage, tmp_path):
    buildah, name = Buildah(storage), f"pushedge-{random.randrange(1 << 30)}"
    hello = tmp_path / "hello.txt"
    hello.write_text(f"pushed through an edge by buildah ({name})\n")
    container = buildah.from_scratch(name)
    try:
        buildah.copy(container, hello, "/hello.txt")
        buildah.commit(container, f"localhost/{name}:v1")
    finally:
        buildah.rm(container)
    buildah("push", "--tls-verify=false", "--digestfile", str(tmp_path / "digest"), f"localhost/{name}:v1",
            f"docker://{target.ref('pushedge/buildah')}")
    assert len(target.check("pushedge/buildah", _digest_file(tmp_path))) == 2   # config and one layer


def test_oras_py_push_through_edge(target, tmp_path):
    artifact = tmp_path / "artifact.bin"
    artifact.write_bytes(random.Random(15).randbytes(200_000))
    digest = orasclient.push(target.edge.hostport, "pushedge/oras:v1", [artifact])
    assert digest.startswith("sha256:"), f"oras-py's manifest PUT through the edge answered no digest: {digest!r}"
    target.check("pushedge/oras", digest)
    out = tmp_path / "out"
    (pulled,) = orasclient.pull(target.edge.hostport, "pushedge/oras:v1", out)
    assert file_sha256(pulled) == file_sha256(artifact)
    shutil.rmtree(out)
