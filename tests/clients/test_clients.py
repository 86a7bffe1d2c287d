"""Real OCI clients against real nodes (`python -m ocicache serve`): skopeo, podman, buildah,
containerd's ctr (with a hosts.toml mirror) and oras-py.

Generated images (tests/clients/images.py: one layer of 5 MiB, four layers of 25 MiB, a
linux/amd64 + linux/arm64/v8 index) are pushed to an origin node, pulled back with every client,
directly and through an edge node whose origin is the first (`--origin http://... --workers 2`);
manifest digests are compared and every pulled blob is rehashed. In CI a missing client fails.
"""
from __future__ import annotations

import io
import json
import random
import tarfile

import pytest

from ..faultproxy import FaultProxy
from ..ocisync import request
from . import orasclient
from .containerd import Containerd, write_hosts_toml
from .containers import Buildah, Podman, Storage
from .registry import FillCounter
from .scenarios import (TAG, Seeded, check_ctr_content, check_mirror_requests, cold_pull_through_edge,
                        in_edge_cache, skopeo_pull_back, unique_image)
from .skopeo import Skopeo
from .verify import file_sha256

pytestmark = pytest.mark.clients
NS = "clients"


@pytest.fixture(scope="module")
def seeded(origin_and_edge, image_layout):
    return Seeded(origin_and_edge[0], image_layout)


@pytest.fixture(scope="module")
def origin(origin_and_edge):
    return origin_and_edge[0]


@pytest.fixture(scope="module")
def edge(origin_and_edge):
    return origin_and_edge[1]


@pytest.fixture(scope="module")
def storage(tmp_path_factory):
    store = Storage(tmp_path_factory.mktemp("containers-storage"))
    yield store
    store.remove()


@pytest.fixture(scope="module")
def containerd(tmp_path_factory):
    """containerd("direct") / containerd("edge"): one private daemon each (content is shared by
    a daemon's namespaces, so pulls through the edge get a daemon of their own)."""
    daemons: dict[str, Containerd] = {}

    def get(name: str) -> Containerd:
        if name not in daemons:
            daemons[name] = Containerd(tmp_path_factory.mktemp(f"containerd-{name}")).start()
        return daemons[name]

    yield get
    for daemon in daemons.values():
        daemon.stop()


@pytest.fixture(scope="module")
def artifact_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("oras") / "artifact.bin"
    path.write_bytes(random.Random(7).randbytes(300_000))
    return path


# ---- skopeo ----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["small", "multilayer", "multiarch"])
def test_skopeo_push(seeded, origin, shape):
    repo = seeded.push(shape)
    assert seeded.skopeo.digest(f"docker://{origin.hostport}/{repo}:{TAG}") == seeded.layout(shape).manifest_digest


def test_skopeo_inspect_multiarch(seeded, origin):
    ref, layout = f"docker://{origin.hostport}/{seeded.push('multiarch')}:{TAG}", seeded.layout("multiarch")
    amd64, arm64 = seeded.skopeo.inspect(ref, arch="amd64"), seeded.skopeo.inspect(ref, arch="arm64")
    assert amd64["Digest"] == arm64["Digest"] == layout.manifest_digest
    assert (amd64["Architecture"], arm64["Architecture"]) == ("amd64", "arm64")
    assert arm64["Layers"] == [layer.digest for layer in layout.image("linux/arm64").layers]


def test_skopeo_list_tags(seeded, origin):
    assert TAG in seeded.skopeo.list_tags(f"docker://{origin.hostport}/{seeded.push('small')}")


@pytest.mark.parametrize("shape", ["small", "multilayer", "multiarch"])
def test_skopeo_pull(seeded, origin, shape, tmp_path):
    skopeo_pull_back(seeded.skopeo, origin.hostport, seeded.push(shape), seeded.layout(shape), tmp_path / "back")


# ---- podman and buildah ----------------------------------------------------------------------

def test_podman_pull_small(seeded, origin, storage):
    podman, ref = Podman(storage), f"{origin.hostport}/{seeded.push('small')}:{TAG}"
    podman.pull(ref)
    assert podman.inspect(ref, "{{.Digest}}") == seeded.layout("small").manifest_digest


def test_podman_push_small(seeded, origin, storage):
    podman, ref = Podman(storage), f"{origin.hostport}/{seeded.push('small')}:{TAG}"
    podman.pull(ref)
    podman.push(ref, f"{origin.hostport}/clients/small-podman:{TAG}")
    pushed = json.loads(seeded.skopeo.raw(f"docker://{origin.hostport}/clients/small-podman:{TAG}"))
    assert pushed["config"]["digest"] == seeded.layout("small").image().config_digest


def test_podman_pull_multiarch_arm64(seeded, origin, storage):
    podman, ref = Podman(storage), f"{origin.hostport}/{seeded.push('multiarch')}:{TAG}"
    podman.pull(ref, arch="arm64")
    assert podman.inspect(ref, "{{.Architecture}}") == "arm64"
    assert "sha256:" + podman.inspect(ref, "{{.Id}}") == seeded.layout("multiarch").image("linux/arm64").config_digest


def test_buildah_scratch_push(seeded, origin, storage, tmp_path):
    buildah, name = Buildah(storage), f"scratch-{random.randrange(1 << 30)}"
    hello = tmp_path / "hello.txt"
    hello.write_text(f"built by buildah in tests/clients ({name})\n")
    container = buildah.from_scratch(name)
    try:
        buildah.copy(container, hello, "/hello.txt")
        buildah.label(container, "org.example.client", "buildah")
        buildah.commit(container, f"localhost/{name}:v1")
    finally:
        buildah.rm(container)
    dest = f"{origin.hostport}/clients/buildah:{TAG}"
    buildah.push(f"localhost/{name}:v1", dest)
    pushed = seeded.skopeo.inspect(f"docker://{dest}")
    assert pushed["Labels"]["org.example.client"] == "buildah" and len(pushed["Layers"]) == 1
    status, _, blob = request(origin.url, "GET", f"/v2/clients/buildah/blobs/{pushed['Layers'][0]}")
    assert status == 200
    with tarfile.open(fileobj=io.BytesIO(blob)) as layer:      # a few hundred bytes, any compression
        assert layer.extractfile("hello.txt").read() == hello.read_bytes()


def test_buildah_pull_multilayer(seeded, origin, storage):
    buildah, ref = Buildah(storage), f"{origin.hostport}/{seeded.push('multilayer')}:{TAG}"
    buildah.pull(ref)
    assert buildah.digest(ref) == seeded.layout("multilayer").manifest_digest


# ---- containerd ------------------------------------------------------------------------------

def test_ctr_content_fetch_multilayer(seeded, origin, containerd):
    daemon, layout = containerd("direct"), seeded.layout("multilayer")
    daemon.content_fetch(f"{origin.hostport}/{seeded.push('multilayer')}:{TAG}", NS)
    check_ctr_content(daemon, NS, layout.manifest_digests | layout.blob_digests)


@pytest.mark.parametrize("shape", ["small", "multiarch"])
def test_ctr_pull(seeded, origin, containerd, shape):
    daemon, layout = containerd("direct"), seeded.layout(shape)
    ref = f"{origin.hostport}/{seeded.push(shape)}:{TAG}"
    daemon.pull(ref, NS, plain_http=True, all_platforms=len(layout.images) > 1)
    assert daemon.image_digest(ref, NS) == layout.manifest_digest
    check_ctr_content(daemon, NS, layout.manifest_digests | layout.blob_digests)


def _mirror_pull(daemon: Containerd, origin, registry_url: str, tmp_path) -> None:
    """Push a unique image to the origin as library/<name>, pull docker.io/library/<name> with a
    hosts.toml mirror pointing (through a request recorder) at `registry_url`."""
    layout = unique_image(tmp_path / "unique")
    repo = f"library/mirror-{layout.manifest_digest[7:19]}"
    Skopeo().copy(layout.ref, f"docker://{origin.hostport}/{repo}:{TAG}")
    with FaultProxy(registry_url) as recorder:
        write_hosts_toml(tmp_path / "certs.d", "docker.io", recorder.url)
        daemon.pull(f"docker.io/{repo}:{TAG}", NS, hosts_dir=tmp_path / "certs.d")
        check_mirror_requests(recorder.requests, repo)
    assert daemon.image_digest(f"docker.io/{repo}:{TAG}", NS) == layout.manifest_digest
    check_ctr_content(daemon, NS, layout.manifest_digests | layout.blob_digests)


def test_ctr_mirror_hosts_toml_ns(origin, containerd, tmp_path):
    _mirror_pull(containerd("direct"), origin, origin.url, tmp_path)


# ---- oras-py ---------------------------------------------------------------------------------

def _oras_push(origin, artifact_file) -> str:
    digest = orasclient.push(origin.hostport, f"clients/oras:{TAG}", [artifact_file])
    assert digest == Skopeo().digest(f"docker://{origin.hostport}/clients/oras:{TAG}")
    return digest


def test_oras_py_push_pull(origin, artifact_file, tmp_path):
    _oras_push(origin, artifact_file)
    (pulled,) = orasclient.pull(origin.hostport, f"clients/oras:{TAG}", tmp_path)
    assert pulled.name == artifact_file.name and file_sha256(pulled) == file_sha256(artifact_file)


# ---- through the edge node -------------------------------------------------------------------

@pytest.mark.parametrize("shape", ["multilayer", "multiarch"])
def test_edge_skopeo_pull(seeded, edge, shape, tmp_path):
    layout, repo = seeded.layout(shape), seeded.push(shape)
    cold_pull_through_edge(edge, layout, lambda: skopeo_pull_back(seeded.skopeo, edge.hostport, repo, layout,
                                                                  tmp_path / "back"))


def test_edge_skopeo_pull_multilayer_again(seeded, edge, tmp_path):
    """A second pull is served from the edge's cache: no origin fetch at all."""
    layout, repo = seeded.layout("multilayer"), seeded.push("multilayer")
    if not all(in_edge_cache(edge, d) for d in layout.blob_digests):
        skopeo_pull_back(seeded.skopeo, edge.hostport, repo, layout, tmp_path / "first")
    counter = FillCounter(edge.url)
    skopeo_pull_back(seeded.skopeo, edge.hostport, repo, layout, tmp_path / "again")
    assert counter.delta() == (0, 0), "the warm pull fetched from the origin again"


def test_edge_podman_pull_small(seeded, edge, storage):
    podman, ref = Podman(storage), f"{edge.hostport}/{seeded.push('small')}:{TAG}"
    podman.pull(ref)
    assert podman.inspect(ref, "{{.Digest}}") == seeded.layout("small").manifest_digest


def test_edge_ctr_pull_multilayer(seeded, edge, containerd):
    daemon, layout = containerd("edge"), seeded.layout("multilayer")
    ref = f"{edge.hostport}/{seeded.push('multilayer')}:{TAG}"
    daemon.pull(ref, NS, plain_http=True)
    assert daemon.image_digest(ref, NS) == layout.manifest_digest
    check_ctr_content(daemon, NS, layout.manifest_digests | layout.blob_digests)


def test_edge_ctr_mirror_hosts_toml_ns(origin, edge, containerd, tmp_path):
    _mirror_pull(containerd("edge"), origin, edge.url, tmp_path)


def test_edge_oras_py_pull(origin, edge, artifact_file, tmp_path):
    _oras_push(origin, artifact_file)
    (pulled,) = orasclient.pull(edge.hostport, f"clients/oras:{TAG}", tmp_path)
    assert file_sha256(pulled) == file_sha256(artifact_file)
