"""The one manifest walker (oci/walk.py): index -> chosen platform manifests -> blobs."""
from __future__ import annotations

import hashlib
import json

import pytest

from ocicache import errors
from ocicache.errors import OCIError
from ocicache.oci import walk
from ocicache.oci.mediatypes import NON_DISTRIBUTABLE, OCI_INDEX, OCI_MANIFEST
from ocicache.reference import Digest


def digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def descriptor(data: bytes, media_type: str, **more) -> dict:
    return {"mediaType": media_type, "digest": digest(data), "size": len(data), **more}


def image(name: str, foreign: bool = False) -> bytes:
    layers = [descriptor(f"{name} layer".encode(), "application/vnd.oci.image.layer.v1.tar")]
    if foreign:
        layers.append(descriptor(f"{name} foreign".encode(), NON_DISTRIBUTABLE[0], urls=["https://x.example/l"]))
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": descriptor(f"{name} config".encode(), "application/vnd.oci.image.config.v1+json"),
                       "layers": layers}).encode()


@pytest.fixture
def store():
    amd, arm = image("amd64", foreign=True), image("arm64")
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        descriptor(amd, OCI_MANIFEST, platform={"os": "linux", "architecture": "amd64"}),
        descriptor(arm, OCI_MANIFEST, platform={"os": "linux", "architecture": "arm64", "variant": "v8"})]}).encode()
    by_ref = {digest(amd): amd, digest(arm): arm, digest(index): index, "v1": index}

    async def read(reference: str) -> bytes | None:
        return by_ref.get(reference)
    return read, by_ref, {"amd": amd, "arm": arm, "index": index}


async def test_walks_an_index_to_every_blob(store):
    read, _, docs = store
    found = await walk.walk(read, "v1")
    assert [str(d) for d in found.manifests] == [digest(docs["index"]), digest(docs["amd"]), digest(docs["arm"])]
    assert [str(b.digest) for b in found.blobs] == [digest(b"amd64 config"), digest(b"amd64 layer"),
                                                    digest(b"arm64 config"), digest(b"arm64 layer")]
    assert Digest.parse(digest(b"amd64 foreign")) in found.references  # named (gc keeps it), not fetched


async def test_chosen_platforms_with_or_without_variant(store):
    read, _, docs = store
    assert [str(d) for d in (await walk.walk(read, "v1", {"linux/arm64"})).manifests][1:] == [digest(docs["arm"])]
    assert len((await walk.walk(read, "v1", {"linux/amd64"})).blobs) == 2


async def test_missing_child_is_reported_and_seen_manifests_skipped(store):
    read, by_ref, docs = store
    del by_ref[digest(docs["arm"])]
    seen: set[Digest] = set()
    found = await walk.walk(read, "v1", seen=seen)
    assert found.missing == [digest(docs["arm"])] and len(seen) == 2
    again = await walk.walk(read, digest(docs["amd"]), seen=seen)
    assert again.manifests == [] and again.blobs == []


async def test_unreadable_manifest_is_named(store):
    read, by_ref, _ = store
    by_ref["bad"] = b'{"schemaVersion": 2, "mediaType": "' + OCI_MANIFEST.encode() + b'", "layers": []}'
    with pytest.raises(OCIError) as exc:
        await walk.walk(read, "bad")
    assert exc.value.code is errors.MANIFEST_INVALID and "config" in exc.value.message
