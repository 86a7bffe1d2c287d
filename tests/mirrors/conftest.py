"""Upstream registries (CNCF distribution, ocicache nodes) and edge nodes mirroring them."""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

import pytest

from ..ocisync import request

HARNESS = Path(__file__).resolve().parents[3] / "shared" / "harness" / "clients"
MANIFEST_ACCEPT = ("application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, "
                   "application/vnd.docker.distribution.manifest.v2+json")


def skopeo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["skopeo", *args], capture_output=True, text=True, timeout=120)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def get(url: str, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    return request(url, "GET", path, headers={"Accept": MANIFEST_ACCEPT, **(headers or {})})


def error_of(body: bytes) -> dict:
    return json.loads(body)["errors"][0]


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    """Small OCI layouts from the shared harness and the manifest digest of each."""
    if subprocess.run(["which", "skopeo"], capture_output=True).returncode != 0:
        pytest.skip("skopeo is not installed")
    out = tmp_path_factory.mktemp("mirror-images")
    subprocess.run(["python3", str(HARNESS / "make_images.py"), "--out", str(out), "--small-mb", "0.3",
                    "--multi-mb", "0.3", "--multi-layers", "2"], check=True, capture_output=True)
    return out, dict(line.split() for line in (out / "digests.txt").read_text().splitlines())


@pytest.fixture
def started():
    """started(thing) -> thing.start()ed; every one is stopped at teardown, last first."""
    things = []

    def start(thing):
        thing.start()
        things.append(thing)
        return thing

    yield start
    for thing in reversed(things):
        thing.stop()


def _push_blob(url: str, repo: str, data: bytes) -> str:
    """POST then PUT (CNCF distribution 2.8 does not take a monolithic POST)."""
    status, headers, body = request(url, "POST", f"/v2/{repo}/blobs/uploads/")
    assert status == 202, body
    location = headers["Location"].replace(url, "")
    digest = sha(data)
    status, _, body = request(url, "PUT", f"{location}{'&' if '?' in location else '?'}digest={digest}", data,
                              {"Content-Type": "application/octet-stream"})
    assert status == 201, body
    return digest


def push_image(url: str, repo: str, tag: str, layer: bytes) -> str:
    """A one-layer OCI image pushed by two-step uploads and tagged; its manifest digest."""
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha(layer)]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _push_blob(url, repo, config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": _push_blob(url, repo, layer), "size": len(layer)}]}).encode()
    status, _, body = request(url, "PUT", f"/v2/{repo}/manifests/{tag}", manifest,
                              {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert status == 201, body
    return sha(manifest)
