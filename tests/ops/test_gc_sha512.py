"""`ocicache gc` with sha512 content on a file:// origin: blobs referenced by a sha512-addressed
manifest, by a tagged manifest naming sha512 blobs, and by an index of sha512 children stay;
old unreferenced sha512 (and sha256) blobs go, with their layer links."""
from __future__ import annotations

import hashlib
import json
import os
import time

from ..ocisync import OCI_MANIFEST, request
from .test_gc import gc

OLD = time.time() - 7200
V2 = "origin/docker/registry/v2"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def digest_of(data: bytes, algo: str) -> str:
    return f"{algo}:" + hashlib.new(algo, data).hexdigest()


def push_blob(url: str, repo: str, data: bytes, algo: str) -> str:
    digest = digest_of(data, algo)
    status, _, body = request(url, "POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", data)
    assert status == 201, body
    return digest


def put(url: str, repo: str, reference: str, doc: dict) -> bytes:
    data = json.dumps(doc).encode()
    target = digest_of(data, reference) if reference in ("sha256", "sha512") else reference
    status, _, body = request(url, "PUT", f"/v2/{repo}/manifests/{target}", data, {"Content-Type": doc["mediaType"]})
    assert status == 201, body
    return data


def image(url: str, repo: str, algo: str) -> dict:
    config, layer = json.dumps({"os": "linux", "n": os.urandom(4).hex()}).encode(), os.urandom(20_000)
    return {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": push_blob(url, repo, config, algo), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": push_blob(url, repo, layer, algo), "size": len(layer)}]}


def stored(node) -> set[str]:
    base = node.data_dir / V2 / "blobs"
    return {f"{p.parent.parent.parent.name}:{p.parent.name}" for p in base.rglob("data")}


def age_everything(node) -> None:
    """Every blob and layer link looks two hours old: only references keep a blob now."""
    for path in [*(node.data_dir / V2 / "blobs").rglob("data"), *(node.data_dir / V2).rglob("_layers/*/*/link")]:
        os.utime(path, (OLD, OLD))


def test_gc_keeps_what_sha512_manifests_name_and_sweeps_sha512_orphans(node):
    by_digest = image(node.url, "gc/512", "sha512")
    by_digest_bytes = put(node.url, "gc/512", "sha512", by_digest)
    tagged = image(node.url, "gc/512", "sha512")
    put(node.url, "gc/512", "v1", tagged)
    child = image(node.url, "gc/512", "sha512")
    child_bytes = put(node.url, "gc/512", "sha512", child)
    put(node.url, "gc/512", "multi", {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": OCI_MANIFEST, "digest": digest_of(child_bytes, "sha512"), "size": len(child_bytes)}]})
    orphans = [push_blob(node.url, "gc/512", os.urandom(5_000), algo) for algo in ("sha512", "sha512", "sha256")]
    age_everything(node)
    before = stored(node)
    assert set(orphans) <= before

    run = gc(node)
    assert run.returncode == 0, run.stderr
    deleted = {line.split()[1] for line in run.stdout.splitlines() if line.startswith("deleted ")}
    assert deleted == set(orphans)
    assert stored(node) == before - set(orphans)
    for doc in (by_digest, tagged, child):
        for desc in [doc["config"], *doc["layers"]]:
            status, _, data = request(node.url, "GET", f"/v2/gc/512/blobs/{desc['digest']}")
            assert status == 200 and digest_of(data, "sha512") == desc["digest"]
    status, _, body = request(node.url, "GET", f"/v2/gc/512/manifests/{digest_of(by_digest_bytes, 'sha512')}",
                              headers={"Accept": OCI_MANIFEST})
    assert status == 200 and body == by_digest_bytes
    for digest in orphans:
        assert request(node.url, "HEAD", f"/v2/gc/512/blobs/{digest}")[0] == 404
        algo, _, hexdigest = digest.partition(":")
        assert not (node.data_dir / V2 / "repositories/gc/512/_layers" / algo / hexdigest).exists()
