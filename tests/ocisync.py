"""Small synchronous OCI client helpers for tests that drive real node processes."""
from __future__ import annotations

import hashlib
import http.client
import json
from urllib.parse import urlsplit

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def request(url: str, method: str, path: str, body=None, headers=None, timeout: float = 120):
    """(status, headers, body bytes) of one request; body may be bytes or an iterable of bytes."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        chunked = body is not None and not isinstance(body, (bytes, bytearray))
        conn.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def push_blob(url: str, repo: str, data: bytes) -> str:
    digest = sha(data)
    status, _, body = request(url, "POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", data)
    assert status == 201, body
    return digest


def push_image(url: str, repo: str, tag: str, layer: bytes) -> str:
    """Push a one-layer OCI image and tag it; returns the manifest digest."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers",
                         "diff_ids": [sha(layer)]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": push_blob(url, repo, config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": push_blob(url, repo, layer),
                    "size": len(layer)}],
    }).encode()
    status, _, body = request(url, "PUT", f"/v2/{repo}/manifests/{tag}", manifest, {"Content-Type": OCI_MANIFEST})
    assert status == 201, body
    return sha(manifest)
