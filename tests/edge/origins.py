"""The two kinds of origin an edge is tested against, and pushing content into either over HTTP.

- `ocicache`: another ocicache node (file:// origin of its own).
- `distribution`: CNCF distribution (Debian's `docker-registry` 2.8, filesystem driver,
  `storage.delete.enabled: true`), so a bug shared by both ends of ocicache cannot pass unseen.

Pushes use the two-step upload (POST, then PUT ?digest=), which both accept (distribution 2.8
takes no monolithic POST). `headers` carries an Authorization for a registry with auth on.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from urllib.parse import urlsplit

from ..distribution import Distribution
from ..nodeproc import NodeProcess
from ..ocisync import OCI_MANIFEST, request, sha

KINDS = ["ocicache", "distribution"]
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


class Origin:
    """A started origin of `kind` in `state_dir`: `.url`, `.kind`, `.stop()`."""

    def __init__(self, kind: str, state_dir: Path) -> None:
        self.kind = kind
        if kind == "ocicache":
            self._proc = NodeProcess(state_dir / "node")
        elif kind == "distribution":
            # a catalog page holds 2 repositories: the edge must follow distribution's Link headers
            self._proc = Distribution(state_dir / "registry", extra_yaml="catalog: {maxentries: 2}\n")
        else:
            raise ValueError(f"unknown origin kind {kind!r}")
        self._proc.start()

    @property
    def url(self) -> str:
        return self._proc.url

    def stop(self) -> None:
        self._proc.stop()


def push_blob(url: str, repo: str, data: bytes, headers: dict | None = None) -> str:
    """POST an upload, PUT the bytes with ?digest=; the blob's digest."""
    status, got, body = request(url, "POST", f"/v2/{repo}/blobs/uploads/", headers=headers)
    assert status == 202, (status, body)
    location = urlsplit(got["Location"])
    path = location.path + ("?" + location.query if location.query else "")
    digest = sha(data)
    status, _, body = request(url, "PUT", f"{path}{'&' if location.query else '?'}digest={digest}", data,
                              {"Content-Type": "application/octet-stream", **(headers or {})})
    assert status == 201, (status, body)
    return digest


def put_manifest(url: str, repo: str, reference: str, manifest: dict, headers: dict | None = None) -> str:
    data = json.dumps(manifest).encode()
    status, _, body = request(url, "PUT", f"/v2/{repo}/manifests/{reference}", data,
                              {"Content-Type": manifest["mediaType"], **(headers or {})})
    assert status == 201, (status, body)
    return sha(data)


def push_image(url: str, repo: str, tag: str, *layers: bytes, headers: dict | None = None) -> str:
    """An OCI image of these layers, tagged; its manifest digest."""
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha(layer) for layer in layers]}}).encode()
    manifest = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": push_blob(url, repo, config, headers), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": push_blob(url, repo, layer, headers), "size": len(layer)} for layer in layers]}
    return put_manifest(url, repo, tag, manifest, headers)


def delete_manifest(url: str, repo: str, digest: str) -> None:
    """Delete a revision at the origin (both kinds drop every tag pointing at it)."""
    status, _, body = request(url, "DELETE", f"/v2/{repo}/manifests/{digest}")
    assert status == 202, (status, body)


def holders(pid: int) -> set[Path]:
    """The files process `pid` holds open (from /proc)."""
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            found.add(Path(os.readlink(fd)))
        except OSError:
            continue  # closed meanwhile
    return found


def wait_for(predicate, what: str, timeout: float = 20.0) -> None:
    """Poll `predicate` every 10 ms; AssertionError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def copies_with_bytes(data_dir: Path) -> list[Path]:
    """The files of an edge's local copies of forwarded uploads (<data>/cache/partial/fwd-*)
    that hold bytes: a copy that is not empty, or a state that counts bytes. The empty copies of
    the sessions an edge keeps open at its origin ahead of POSTs (origin/forwarded.py
    `_open_ahead`) hold none and are not listed."""
    found = []
    for path in (data_dir / "cache" / "partial").glob("fwd-*"):
        try:
            if path.suffix == ".data" and path.stat().st_size > 0:
                found.append(path)
            elif path.suffix == ".json" and json.loads(path.read_text()).get("offset") != 0:
                found.append(path)
        except (OSError, ValueError):
            continue  # removed meanwhile
    return found
