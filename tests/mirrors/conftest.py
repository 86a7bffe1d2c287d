"""Upstream registries (CNCF distribution, ocicache nodes) and edge nodes mirroring them."""
from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from ..clients.images import write_set
from ..clients.tools import require
from ..ocisync import request

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
    """Small generated OCI layouts (tests/clients/images.py) and the manifest digest of each."""
    require("skopeo")                       # a skip here, a failure in CI
    out = tmp_path_factory.mktemp("mirror-images")
    return out, write_set(out, small_bytes=300 * 1024, multi_bytes=300 * 1024, multi_layers=2)


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
