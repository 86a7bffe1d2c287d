"""What the UI tests (and the docs screenshots) push: a small registry whose pages have
something to show, pushed over the node's HTTP API with the standard library.

    demo = push_demo(Pusher(node.url))      # or Pusher(url, basic=("admin", "pw")) on an auth-on node

- `demo/app:v1` (also `latest`): an image of two layers whose config has a platform, command,
  environment, labels and history, and whose manifest carries the annotation HOSTILE;
- `demo/multi:1.0`: an index of linux/amd64 and linux/arm64/v8 images;
- two referrers of demo/app:v1 of two artifact types (a signature, an SBOM);
- `a.b/c_d-e__f:t-1.0_x`, a name using every separator the OCI grammar allows;
- `demo/m/x:1` (a name with a component "m": the URL scheme must not take it for the marker);
- `team/r1` .. `team/r3` (one tag each), so listings have pages.
"""
from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
HOSTILE = "<script>alert(1)</script>"
SIGNATURE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
SBOM_TYPE = "application/spdx+json"
ODD_NAME = "a.b/c_d-e__f"
ODD_TAG = "t-1.0_x"
M_NAME = "demo/m/x"
TEAM = ["team/r1", "team/r2", "team/r3"]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def seeded(seed: str, size: int) -> bytes:
    """`size` deterministic bytes (the same seed always gives the same blob)."""
    out, counter = bytearray(), 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def dumps(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


class Pusher:
    def __init__(self, base_url: str, basic: tuple[str, str] | None = None) -> None:
        self.base = base_url.rstrip("/")
        self.headers = {}
        if basic is not None:
            self.headers["Authorization"] = "Basic " + base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()

    def _send(self, method: str, path: str, data: bytes | None = None, content_type: str | None = None) -> dict:
        headers = dict(self.headers)
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return dict(resp.headers)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from None

    def blob(self, repo: str, data: bytes, media_type: str) -> dict:
        digest = sha256(data)
        self._send("POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", data, "application/octet-stream")
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def manifest(self, repo: str, reference: str | None, body: dict) -> dict:
        """Push `body` by `reference` (a tag), or by its digest when None; its descriptor."""
        data = dumps(body)
        digest = sha256(data)
        self._send("PUT", f"/v2/{repo}/manifests/{reference or digest}", data, body["mediaType"])
        return {"mediaType": body["mediaType"], "digest": digest, "size": len(data)}

    def get(self, path: str) -> bytes:
        req = urllib.request.Request(self.base + path, headers=self.headers)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.read()


def _config(arch: str, variant: str | None, history: list[str]) -> dict:
    config = {"architecture": arch, "os": "linux", "created": "2026-11-30T12:00:00Z",
              "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "APP_MODE=demo"],
                         "Entrypoint": ["/usr/bin/demo"], "Cmd": ["--serve", "--port", "8080"],
                         "ExposedPorts": {"8080/tcp": {}}, "WorkingDir": "/srv",
                         "Labels": {"org.opencontainers.image.source": "https://example.com/demo",
                                    "maintainer": "ops <ops@example.com>"}},
              "rootfs": {"type": "layers", "diff_ids": []},
              "history": [{"created_by": line} for line in history]}
    if variant:
        config["variant"] = variant
    return config


def push_image(p: Pusher, repo: str, tag: str | None, seed: str, layer_sizes: tuple[int, ...],
               arch: str = "amd64", variant: str | None = None, annotations: dict | None = None) -> dict:
    history = [f"/bin/sh -c #(nop) ADD file:{seed}-{i} in /" for i in range(len(layer_sizes))]
    layers = [p.blob(repo, seeded(f"{seed}-{i}", n), OCI_LAYER) for i, n in enumerate(layer_sizes)]
    config = p.blob(repo, dumps(_config(arch, variant, history)), OCI_CONFIG)
    body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers}
    if annotations:
        body["annotations"] = annotations
    return p.manifest(repo, tag, body)


def push_referrer(p: Pusher, repo: str, subject: dict, artifact_type: str, payload: bytes, note: str) -> dict:
    empty = p.blob(repo, b"{}", OCI_EMPTY)
    layer = p.blob(repo, payload, artifact_type)
    body = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type, "config": empty,
            "layers": [layer], "subject": subject,
            "annotations": {"org.opencontainers.image.created": "2026-12-01T08:00:00Z", "note": note}}
    return p.manifest(repo, None, body)


@dataclass
class Demo:
    app: dict                      # demo/app:v1's descriptor
    app_layers: tuple[int, ...]
    multi: dict                    # demo/multi:1.0 (the index)
    platforms: dict[str, dict] = field(default_factory=dict)   # "linux/amd64" -> its image's descriptor
    referrers: dict[str, list[dict]] = field(default_factory=dict)  # artifact type -> descriptors
    odd: dict | None = None
    repositories: list[str] = field(default_factory=list)


def push_demo(p: Pusher) -> Demo:
    sizes = (180_000, 1_400_000)
    app = push_image(p, "demo/app", "v1", "app", sizes,
                     annotations={"org.opencontainers.image.description": HOSTILE,
                                  "org.opencontainers.image.title": "demo app"})
    p.manifest("demo/app", "latest", json.loads(p.get(f"/v2/demo/app/manifests/{app['digest']}")))
    demo = Demo(app, sizes, {})
    for platform, arch, variant in (("linux/amd64", "amd64", None), ("linux/arm64/v8", "arm64", "v8")):
        demo.platforms[platform] = push_image(p, "demo/multi", None, f"multi-{arch}", (90_000,), arch, variant)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {**desc, "platform": {"os": "linux", "architecture": platform.split("/")[1],
                              **({"variant": platform.split("/")[2]} if platform.count("/") == 2 else {})}}
        for platform, desc in demo.platforms.items()]}
    demo.multi = p.manifest("demo/multi", "1.0", index)
    subject = {k: app[k] for k in ("mediaType", "digest", "size")}
    demo.referrers[SIGNATURE_TYPE] = [push_referrer(p, "demo/app", subject, SIGNATURE_TYPE, b'{"sig":"demo"}',
                                                    "signed by the release key")]
    demo.referrers[SBOM_TYPE] = [push_referrer(p, "demo/app", subject, SBOM_TYPE, dumps({"spdxVersion": f"SPDX-2.{i}"}),
                                               f"sbom {i}") for i in (2, 3)]
    demo.odd = push_image(p, ODD_NAME, ODD_TAG, "odd", (2_000,))
    push_image(p, M_NAME, "1", "m", (1_000,))
    for repo in TEAM:
        push_image(p, repo, "v1", repo, (500,))
    demo.repositories = sorted([ODD_NAME, "demo/app", "demo/multi", M_NAME, *TEAM])
    return demo
