"""Factories shared by the API tests: digests, blob pushes and tiny images.

`algo` ("sha256", the default, or "sha512"; the `algo` fixture of tests/api/conftest.py)
is the algorithm blobs are pushed and described under, and the one a manifest pushed by
digest is addressed by; a manifest pushed by tag is addressed by its sha256 (the canonical
algorithm), whatever its blobs use."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import yarl

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MISSING = "sha256:" + "0" * 64
HEX_LENGTH = {"sha256": 64, "sha512": 128}


def sha(data: bytes, algo: str = "sha256") -> str:
    return f"{algo}:" + hashlib.new(algo, data).hexdigest()


def missing(algo: str = "sha256") -> str:
    """A well-formed digest of `algo` that names nothing."""
    return f"{algo}:" + "0" * HEX_LENGTH[algo]


def descriptor(media_type: str, data: bytes, algo: str = "sha256", **extra) -> dict:
    return {"mediaType": media_type, "digest": sha(data, algo), "size": len(data), **extra}


def dumps(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


async def error_code(resp) -> str:
    """The first OCI error code of an error response (asserting its shape)."""
    body = await resp.json(content_type=None)
    assert isinstance(body["errors"], list) and body["errors"], body
    return body["errors"][0]["code"]


async def push_blob(client, repo: str, data: bytes, algo: str = "sha256") -> str:
    """Push `data` monolithically (POST ?digest=<algo>:...) and return its digest."""
    digest = sha(data, algo)
    resp = await client.post(f"/v2/{repo}/blobs/uploads/", params={"digest": digest}, data=data)
    assert resp.status == 201, await resp.text()
    return digest


async def put_manifest(client, repo: str, reference: str, body: bytes, media_type: str,
                       status: int = 201):
    resp = await client.put(f"/v2/{repo}/manifests/{reference}", data=body,
                            headers={"Content-Type": media_type})
    assert resp.status == status, await resp.text()
    return resp


@dataclass
class Image:
    digest: str        # manifest digest
    manifest: bytes
    config: str        # config blob digest
    layer: str         # layer blob digest


def image_manifest(config: bytes, layer: bytes, media_type: str = OCI_MANIFEST, algo: str = "sha256",
                   **extra) -> bytes:
    docker = media_type == DOCKER_MANIFEST
    return dumps({"schemaVersion": 2, "mediaType": media_type,
                  "config": descriptor(DOCKER_CONFIG if docker else OCI_CONFIG, config, algo),
                  "layers": [descriptor(DOCKER_LAYER if docker else OCI_LAYER, layer, algo)], **extra})


async def push_image(client, repo: str, tag: str | None = "latest", *, media_type: str = OCI_MANIFEST,
                     seed: str = "", algo: str = "sha256", **extra) -> Image:
    """Push a config blob, a layer blob and a manifest naming both, all under `algo`; the manifest
    tagged if `tag` (then addressed by its sha256), else by its `algo` digest."""
    config = dumps({"architecture": "amd64", "os": "linux", "seed": seed or repo + str(tag)})
    layer = f"layer of {repo}:{tag} {seed}".encode() * 3
    await push_blob(client, repo, config, algo)
    await push_blob(client, repo, layer, algo)
    manifest = image_manifest(config, layer, media_type, algo, **extra)
    digest = sha(manifest) if tag else sha(manifest, algo)
    resp = await put_manifest(client, repo, tag or digest, manifest, media_type)
    assert resp.headers["Docker-Content-Digest"] == digest
    return Image(digest, manifest, sha(config, algo), sha(layer, algo))


def index_manifest(children: list[tuple[str, bytes]], media_type: str = OCI_INDEX, algo: str = "sha256") -> bytes:
    return dumps({"schemaVersion": 2, "mediaType": media_type,
                  "manifests": [descriptor(mt, data, algo, platform={"architecture": "amd64", "os": "linux"})
                                for mt, data in children]})


def files_under(root) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def raw_url(client, path: str):
    """An absolute URL sent byte for byte (no normalisation of '..' or percent-escapes);
    use with `client.session.request(method, url)`."""
    return yarl.URL(str(client.make_url("/")).rstrip("/") + path, encoded=True)
