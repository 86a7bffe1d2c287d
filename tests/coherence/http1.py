"""One request per new TCP connection (a client whose requests land on any worker)."""
from __future__ import annotations

import hashlib
import http.client
import json


def request(hostport: str, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    host, port = hostport.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(hostport: str, repo: str, data: bytes) -> str:
    digest = digest_of(data)
    status, _, body = request(hostport, "POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", data,
                              {"Content-Type": "application/octet-stream"})
    assert status == 201, (status, body)
    return digest


def manifest_for(config: str, layers: list[tuple[str, int]], note: str = "") -> bytes:
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": s}
                      for d, s in layers]}
    if note:
        doc["annotations"] = {"note": note}
    return json.dumps(doc).encode()


def push_image(hostport: str, repo: str, tag: str, note: str) -> tuple[str, str]:
    """A config blob `{}`, one layer unique to `note`, a manifest under `tag`: (manifest, layer)."""
    config = push_blob(hostport, repo, b"{}")
    layer_data = f"layer {note}".encode()
    layer = push_blob(hostport, repo, layer_data)
    data = manifest_for(config, [(layer, len(layer_data))], note)
    status, _, body = request(hostport, "PUT", f"/v2/{repo}/manifests/{tag}", data,
                              {"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert status == 201, (status, body)
    return digest_of(data), layer
