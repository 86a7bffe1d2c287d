"""sha512 content pulled through an edge, against each kind of origin: blobs are filled and
verified with sha512 (a corrupted byte is refused), kept under blobs/sha512/ in the edge's
cache, served again without the origin, re-verified by `ocicache cache verify`, and read by
`ocicache warm`. CNCF distribution 2.8 (the `distribution` kind) stores sha512 blobs (under
its canonical sha256, with sha512 links) but refuses manifests addressed by sha512, so the
manifest-by-sha512 test narrows to the ocicache origin."""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from ..ocisync import OCI_MANIFEST, request

MiB = 1024 * 1024
ACCEPT = {"Accept": OCI_MANIFEST}


def sha512(data: bytes) -> str:
    return "sha512:" + hashlib.sha512(data).hexdigest()


def push_blob512(url: str, repo: str, data: bytes) -> str:
    """POST an upload, PUT the bytes with ?digest=sha512:... (both origin kinds take this)."""
    status, got, body = request(url, "POST", f"/v2/{repo}/blobs/uploads/")
    assert status == 202, (status, body)
    location = urlsplit(got["Location"])
    path = location.path + ("?" + location.query if location.query else "")
    digest = sha512(data)
    status, _, body = request(url, "PUT", f"{path}{'&' if location.query else '?'}digest={digest}", data,
                              {"Content-Type": "application/octet-stream"})
    assert status == 201, (status, body)
    return digest


def push_image512(url: str, repo: str, reference: str, layer: bytes) -> tuple[bytes, str, str]:
    """An image whose config and layer are sha512 blobs, put under `reference` (a tag, or the
    manifest's own sha512 digest when reference == "sha512"); (manifest, config, layer digests)."""
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "rootfs": {"type": "layers", "diff_ids": [sha512(layer)]}}).encode()
    config_digest, layer_digest = push_blob512(url, repo, config), push_blob512(url, repo, layer)
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                    "size": len(layer)}]}).encode()
    target = sha512(manifest) if reference == "sha512" else reference
    status, _, body = request(url, "PUT", f"/v2/{repo}/manifests/{target}", manifest, {"Content-Type": OCI_MANIFEST})
    assert status == 201, (status, body)
    return manifest, config_digest, layer_digest


def get512(url: str, repo: str, digest: str) -> bytes:
    status, headers, body = request(url, "GET", f"/v2/{repo}/blobs/{digest}")
    assert status == 200, (status, body[:300])
    assert headers["Docker-Content-Digest"] == digest  # the edge names it as asked
    assert sha512(body) == digest
    return body


def cache_file(edge, digest: str):
    hexdigest = digest.partition(":")[2]
    return edge.data_dir / "cache" / "blobs" / "sha512" / hexdigest[:2] / hexdigest


def ocicache(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ocicache", *args], capture_output=True, text=True, timeout=120)


def test_image_with_sha512_blobs_pulls_through_the_edge(origin, proxy, make_edge):
    layer = os.urandom(3 * MiB + 11)
    manifest, config_digest, layer_digest = push_image512(origin.url, "sha/app", "v1", layer)
    edge = make_edge()
    status, headers, body = request(edge.url, "GET", "/v2/sha/app/manifests/v1", headers=ACCEPT)
    assert status == 200 and body == manifest
    assert headers["Docker-Content-Digest"] == "sha256:" + hashlib.sha256(manifest).hexdigest()
    for _ in range(2):
        assert get512(edge.url, "sha/app", layer_digest) == layer
        get512(edge.url, "sha/app", config_digest)
    assert proxy.counts["GET", "blob"] == 2  # each filled once, the second round from the cache
    assert cache_file(edge, layer_digest).read_bytes() == layer
    status, headers, body = request(edge.url, "GET", f"/v2/sha/app/blobs/{layer_digest}", headers={"Range": "bytes=5-14"})
    assert status == 206 and body == layer[5:15]


def test_edge_refuses_a_corrupted_sha512_fill(origin, proxy, make_edge):
    layer = os.urandom(2 * MiB)
    _, _, layer_digest = push_image512(origin.url, "sha/corrupt", "v1", layer)
    edge = make_edge()
    proxy.corrupt, proxy.corrupt_at = True, MiB + 3
    try:
        status, _, body = request(edge.url, "GET", f"/v2/sha/corrupt/blobs/{layer_digest}")
    except http.client.IncompleteRead as cut:  # the edge cuts the body before its last byte
        status, body = 200, cut.partial
    assert len(body) < len(layer) or status != 200  # the client never gets all the bytes as if right
    assert not cache_file(edge, layer_digest).exists()
    proxy.corrupt = False
    assert get512(edge.url, "sha/corrupt", layer_digest) == layer
    assert cache_file(edge, layer_digest).exists()


def test_cache_verify_and_warm_handle_sha512(origin, make_edge):
    layer = os.urandom(MiB + 5)
    _, config_digest, layer_digest = push_image512(origin.url, "sha/warm", "v1", layer)
    edge = make_edge()
    warmed = ocicache("warm", "--node", edge.url, "--no-progress", "sha/warm:v1")
    assert warmed.returncode == 0, warmed.stderr
    assert "2 blobs" in warmed.stdout
    assert cache_file(edge, layer_digest).exists() and cache_file(edge, config_digest).exists()
    verified = ocicache("cache", "verify", "--data-dir", str(edge.data_dir))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "0 corrupt" in verified.stdout
    path = cache_file(edge, layer_digest)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    verified = ocicache("cache", "verify", "--data-dir", str(edge.data_dir))
    assert verified.returncode == 1
    assert f"CORRUPT {layer_digest}" in verified.stdout
    assert not path.exists()
    assert get512(edge.url, "sha/warm", layer_digest) == layer  # fetched again, right


@pytest.mark.parametrize("origin", ["ocicache"], indirect=True)  # distribution 2.8 refuses sha512 manifests
def test_manifest_addressed_by_sha512_pulls_through_the_edge(origin, proxy, make_edge):
    layer = os.urandom(100_000)
    manifest, _, layer_digest = push_image512(origin.url, "sha/bydigest", "sha512", layer)
    edge = make_edge()
    for _ in range(2):
        status, headers, body = request(edge.url, "GET", f"/v2/sha/bydigest/manifests/{sha512(manifest)}",
                                        headers=ACCEPT)
        assert status == 200 and body == manifest
        assert headers["Docker-Content-Digest"] == sha512(manifest)
    assert proxy.counts["GET", "manifest"] == 1
    assert get512(edge.url, "sha/bydigest", layer_digest) == layer
    status, _, _ = request(edge.url, "GET", "/v2/sha/bydigest/manifests/sha384:" + "a" * 96, headers=ACCEPT)
    assert status == 404
