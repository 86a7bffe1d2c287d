"""Real clients with sha512 content, directly against an origin node and through an edge.

- skopeo and an OCI layout whose blobs and manifest are sha512-addressed (the test writes the
  layout itself: `blobs/sha512/<hex>`, index.json naming the manifest by sha512). Debian's skopeo
  1.9.3 cannot copy sha512 content at all, from any source (it hashes every blob with sha256;
  `test_skopeo_1_9_cannot_copy_sha512_content` pins that down), so the layout is pushed over
  HTTP and skopeo reads it back by its sha512 digest (`skopeo inspect --raw`), direct and
  through the edge.
- oras-py: its `push()` cannot produce sha512 content (oras 0.2.x computes every digest as
  sha256 in oras/oci.py), so the artifact is pushed with oras-py's own lower-level calls
  (`upload_blob` with sha512 descriptors, `upload_manifest` by tag and by the manifest's sha512)
  and pulled with its `pull()`, by tag and by `@sha512:` digest. oras-py does not verify what it
  pulls, so the test rehashes every file with sha512.
"""
from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
from pathlib import Path

import pytest

from ..ocisync import request
from .skopeo import Skopeo
from .tools import ClientError, missing

pytestmark = pytest.mark.clients
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
TAG = "v512"


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def file_sha512(path: Path) -> str:
    hasher = hashlib.sha512()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            hasher.update(chunk)
    return "sha512:" + hasher.hexdigest()


@pytest.fixture(scope="module")
def origin(origin_and_edge):
    return origin_and_edge[0]


@pytest.fixture(scope="module")
def edge(origin_and_edge):
    return origin_and_edge[1]


# ---- an OCI layout addressed by sha512 -------------------------------------------------------

def _tar(seed: int, size: int) -> bytes:
    payload = random.Random(seed).randbytes(size)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"sha512-{seed}.bin")
        info.size, info.mtime, info.mode = len(payload), 0, 0o644
        tar.addfile(info, io.BytesIO(payload))
    return out.getvalue()


def write_sha512_layout(root: Path, seed: int = 512) -> dict:
    """An OCI image layout (image-spec "image-layout") of one linux/amd64 image whose layers,
    config and manifest are all named by sha512; {"manifest": bytes, "digests": [...]}."""
    blobs = root / "blobs" / "sha512"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        digest = sha512(data)
        (blobs / digest[7:]).write_bytes(data)
        return digest

    layers = [_tar(seed + i, size) for i, size in enumerate((2 << 20, 300_000))]
    layer_digests = [put(layer) for layer in layers]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": layer_digests}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": len(layer)}
                   for d, layer in zip(layer_digests, layers)]}).encode()
    manifest_digest = put(manifest)
    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": len(manifest),
         "annotations": {"org.opencontainers.image.ref.name": TAG}}]}))
    return {"manifest": manifest, "digests": [sha512(config), *layer_digests]}


@pytest.fixture(scope="module")
def sha512_layout(tmp_path_factory):
    root = tmp_path_factory.mktemp("oci-sha512")
    return root, write_sha512_layout(root)


def push_layout_over_http(url: str, repo: str, root: Path, expected: dict) -> None:
    """What skopeo 1.9.3 cannot do (below): the layout's blobs and manifest pushed by the test."""
    for digest in expected["digests"]:
        data = (root / "blobs/sha512" / digest[7:]).read_bytes()
        status, _, body = request(url, "POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", data)
        assert status == 201, body
    for reference in (TAG, sha512(expected["manifest"])):
        status, _, body = request(url, "PUT", f"/v2/{repo}/manifests/{reference}", expected["manifest"],
                                  {"Content-Type": OCI_MANIFEST})
        assert status == 201, body


def test_skopeo_reads_sha512_content_through_the_node(origin, edge, sha512_layout):
    """skopeo (Debian's 1.9.3) reads a manifest by its sha512 digest, directly and through the edge,
    and gets exactly the stored bytes."""
    skopeo = Skopeo()
    root, expected = sha512_layout
    push_layout_over_http(origin.url, "sha512/skopeo", root, expected)
    for node in (origin, edge):
        ref = f"docker://{node.hostport}/sha512/skopeo@{sha512(expected['manifest'])}"
        assert skopeo.raw(ref) == expected["manifest"]
        assert skopeo.raw(f"docker://{node.hostport}/sha512/skopeo:{TAG}") == expected["manifest"]
    for digest in expected["digests"]:  # and the node serves every blob under its sha512
        status, headers, data = request(edge.url, "GET", f"/v2/sha512/skopeo/blobs/{digest}")
        assert status == 200 and sha512(data) == digest and headers["Docker-Content-Digest"] == digest


@pytest.mark.parametrize("source", ["layout", "node"])
def test_skopeo_1_9_cannot_copy_sha512_content(origin, sha512_layout, tmp_path, source):
    """A known limit of the client, not of the node: skopeo 1.9.3's containers/image hashes every
    blob it copies with sha256 and compares that with the sha512 it was promised, so it refuses
    sha512 content from any source, an OCI layout on disk included (no registry involved). When
    this fails, skopeo has learned sha512: make it a copy-in-and-out test."""
    skopeo = Skopeo()
    root, expected = sha512_layout
    push_layout_over_http(origin.url, "sha512/skopeo", root, expected)
    src = f"oci:{root}:{TAG}" if source == "layout" else f"docker://{origin.hostport}/sha512/skopeo:{TAG}"
    with pytest.raises(ClientError, match="sha256:[0-9a-f]{64}.*sha512|sha512.*sha256:[0-9a-f]{64}"):
        skopeo.copy(src, f"oci:{tmp_path / 'out'}:{TAG}", False, "--preserve-digests")


# ---- oras-py ---------------------------------------------------------------------------------

def _oras(hostport: str):
    try:
        import oras.client
        import oras.oci
    except ImportError:
        missing("oras-py is not importable: install the test extras (pip install -e '.[test]', or `make venv`)")
    return oras.client.OrasClient(hostname=hostport, insecure=True), oras.oci


def oras_push_sha512(hostport: str, repo: str, files: list[Path], chunked: bool) -> bytes:
    """Push `files` as an artifact whose blobs (and empty config) are sha512-addressed, with
    oras-py's upload_blob/upload_manifest; tagged TAG and put by its own sha512. The manifest bytes."""
    client, oci = _oras(hostport)
    container = client.get_container(f"{hostport}/{repo}:{TAG}")
    manifest = oci.NewManifest()
    for path in files:
        layer = oci.NewLayer(str(path), "application/vnd.example.sha512.file")
        layer["digest"] = file_sha512(path)  # oras-py computed sha256; name it by sha512 instead
        layer["annotations"] = {"org.opencontainers.image.title": path.name}
        resp = client.upload_blob(str(path), container, layer, do_chunked=chunked, chunk_size=256 * 1024)
        assert resp.status_code in (200, 201), (resp.status_code, resp.text[:300])
        manifest["layers"].append(layer)
    empty = Path(files[0]).parent / "empty-config.json"
    empty.write_bytes(b"{}")
    config = {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha512(b"{}"), "size": 2}
    assert client.upload_blob(str(empty), container, config).status_code in (200, 201)
    manifest["config"] = config
    resp = client.upload_manifest(manifest, container)
    assert resp.status_code == 201, (resp.status_code, resp.text[:300])
    status, _, body = request(f"http://{hostport}", "GET", f"/v2/{repo}/manifests/{TAG}",
                              headers={"Accept": OCI_MANIFEST})
    assert status == 200
    by_digest = client.get_container(f"{hostport}/{repo}@{sha512(body)}")
    resp = client.upload_manifest(manifest, by_digest)  # the same dict, so the same bytes
    assert resp.status_code == 201, (resp.status_code, resp.text[:300])
    assert resp.headers["Docker-Content-Digest"] == sha512(body)
    return body


def oras_pull(hostport: str, ref: str, outdir: Path) -> dict[str, str]:
    client, _ = _oras(hostport)
    files = client.pull(target=f"{hostport}/{ref}", outdir=str(outdir))
    assert files, f"oras-py pulled nothing from {hostport}/{ref}"
    return {Path(f).name: file_sha512(Path(f)) for f in files}


@pytest.mark.parametrize("chunked", [False, True], ids=["put", "chunked"])
def test_oras_py_pushes_and_pulls_a_sha512_artifact(origin, edge, tmp_path, chunked):
    src = tmp_path / "src"
    src.mkdir()
    files = []
    for name, size in (("big.bin", 1_500_000), ("small.txt", 1000)):
        path = src / name
        path.write_bytes(random.Random(name).randbytes(size))
        files.append(path)
    repo = f"sha512/oras-{'chunked' if chunked else 'put'}"
    manifest = oras_push_sha512(origin.hostport, repo, files, chunked)
    want = {f.name: file_sha512(f) for f in files}
    assert {d["digest"] for d in json.loads(manifest)["layers"]} == set(want.values())
    for node, name in ((origin, "direct"), (edge, "edge")):
        for ref in (f"{repo}:{TAG}", f"{repo}@{sha512(manifest)}"):
            out = tmp_path / name / ref.replace("/", "_").replace(":", "_").replace("@", "_")
            assert oras_pull(node.hostport, ref, out) == want, (name, ref)
