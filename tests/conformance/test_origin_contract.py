"""The Origin contract (ocicache/origin/base.py), one suite run against every origin kind:
blobs readable by digest once put and linked, in bounded chunks and by range; manifests,
tags, listings and referrers; the errors for what is missing; the abilities each origin
states (health, upload mode, cache); writes refused by the read-only registry origin."""
from __future__ import annotations

import hashlib
import json
import os

import pytest

from ocicache import errors
from ocicache.errors import OCIError, Unsupported
from ocicache.origin import UploadMode
from ocicache.origin.uploads import UploadStore
from ocicache.reference import Digest

from .conftest import staged

MiB = 1024 * 1024
UPLOAD_MODES = {"directory": UploadMode.STAGED, "s3": UploadMode.WRITE_THROUGH, "registry": UploadMode.WRITE_THROUGH}  # writes forwarded (issue 15)


def digest_of(data: bytes) -> Digest:
    return Digest.from_hex(hashlib.sha256(data).hexdigest())


def manifest(layer: Digest, size: int, subject: Digest | None = None) -> bytes:
    doc = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                      "digest": str(digest_of(b"{}")), "size": 2},
           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": str(layer), "size": size}]}
    if subject is not None:
        doc["subject"] = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": str(subject),
                          "size": 1}
        doc["artifactType"] = "application/vnd.example.sbom"
    return json.dumps(doc).encode()


async def put_blob(subject, tmp_path, repo: str, data: bytes) -> Digest:
    digest = digest_of(data)
    await subject.writer.put_blob(digest, staged(tmp_path, data))
    await subject.writer.link_blob(repo, digest)
    return digest


async def read_all(origin, repo, digest, offset=0, length=None) -> list[bytes]:
    return [chunk async for chunk in origin.read_blob(repo, digest, offset, length)]


async def tags_or_unknown(origin, repo: str) -> list[str] | None:
    """The tags of `repo`, or None when the origin answers NAME_UNKNOWN."""
    try:
        return await origin.list_tags(repo)
    except OCIError as exc:
        if exc.code is not errors.NAME_UNKNOWN:
            raise
    return None


async def test_states_what_it_can_do(subject):
    health = await subject.origin.check()
    assert health.ok, health.detail
    assert subject.origin.kind == subject.kind
    assert subject.origin.upload_mode is UPLOAD_MODES[subject.kind]
    assert subject.origin.cache() is None
    if subject.origin.upload_mode is UploadMode.WRITE_THROUGH:
        assert isinstance(subject.origin.open_uploads(), UploadStore)
    else:
        with pytest.raises(Unsupported):
            subject.origin.open_uploads()


async def test_blob_is_readable_whole_and_by_range_once_linked(subject, tmp_path):
    data = os.urandom(2 * MiB + 123)
    digest = await put_blob(subject, tmp_path, "conf/app", data)
    assert await subject.origin.blob_size("conf/app", digest) == len(data)
    assert await subject.origin.blob_linked("conf/app", digest)
    assert not await subject.origin.blob_linked("conf/other", digest)
    chunks = await read_all(subject.origin, "conf/app", digest)
    assert b"".join(chunks) == data and max(map(len, chunks)) <= MiB
    assert b"".join(await read_all(subject.origin, "conf/app", digest, MiB - 7, 1000)) == data[MiB - 7:MiB + 993]
    assert b"".join(await read_all(subject.origin, "conf/app", digest, len(data) - 5)) == data[-5:]


async def test_missing_blob_is_blob_unknown(subject):
    missing = digest_of(b"never stored")
    with pytest.raises(OCIError) as exc:
        await subject.origin.blob_size("conf/app", missing)
    assert exc.value.code is errors.BLOB_UNKNOWN
    with pytest.raises(OCIError) as exc:
        await read_all(subject.origin, "conf/app", missing)
    assert exc.value.code is errors.BLOB_UNKNOWN
    assert not await subject.origin.blob_linked("conf/app", missing)


async def test_manifests_tags_and_listings(subject, tmp_path):
    layer = await put_blob(subject, tmp_path, "conf/app", b"layer bytes")
    data = manifest(layer, 11)
    digest = digest_of(data)
    await subject.writer.put_manifest("conf/app", digest, data, "v2")
    await subject.writer.put_manifest("conf/app", digest, data, "v1")
    assert await subject.origin.get_manifest("conf/app", digest) == data
    assert await subject.origin.resolve_tag("conf/app", "v1") == digest
    assert await subject.origin.list_tags("conf/app") == ["v1", "v2"]
    assert "conf/app" in await subject.origin.list_repositories()
    with pytest.raises(OCIError) as exc:
        await subject.origin.resolve_tag("conf/app", "nope")
    assert exc.value.code is errors.MANIFEST_UNKNOWN
    with pytest.raises(OCIError) as exc:
        await subject.origin.get_manifest("conf/other", digest)
    assert exc.value.code is errors.MANIFEST_UNKNOWN
    with pytest.raises(OCIError) as exc:
        await subject.origin.list_tags("conf/never")
    assert exc.value.code is errors.NAME_UNKNOWN


async def test_referrers(subject, tmp_path):
    layer = await put_blob(subject, tmp_path, "conf/app", b"layer bytes")
    image = manifest(layer, 11)
    await subject.writer.put_manifest("conf/app", digest_of(image), image, "v1")
    sbom = manifest(layer, 11, subject=digest_of(image))
    await subject.writer.put_manifest("conf/app", digest_of(sbom), sbom, None)
    await subject.writer.add_referrer("conf/app", digest_of(image), digest_of(sbom))
    assert await subject.origin.list_referrers("conf/app", digest_of(image)) == [digest_of(sbom)]
    assert await subject.origin.list_referrers("conf/app", digest_of(sbom)) == []


async def test_deletes(subject, tmp_path):
    layer = await put_blob(subject, tmp_path, "conf/app", b"layer bytes")
    data = manifest(layer, 11)
    digest = digest_of(data)
    if not subject.writable:
        for write in (subject.origin.delete_tag("conf/app", "v1"), subject.origin.delete_manifest("conf/app", digest),
                      subject.origin.unlink_blob("conf/app", layer),
                      subject.origin.put_manifest("conf/app", digest, data, "v1"),
                      subject.origin.put_blob(layer, staged(tmp_path, b"layer bytes")),
                      subject.origin.link_blob("conf/app", layer)):
            with pytest.raises(Unsupported):
                await write
        return
    await put_blob(subject, tmp_path, "conf/app", b"{}")  # the config: a registry origin's node checks it
    await subject.origin.put_manifest("conf/app", digest, data, "v1")
    await subject.origin.put_manifest("conf/app", digest, data, "v2")
    await subject.origin.delete_tag("conf/app", "v2")
    assert await subject.origin.list_tags("conf/app") == ["v1"]
    await subject.origin.delete_manifest("conf/app", digest)  # and the tags pointing at it
    with pytest.raises(OCIError) as exc:
        await subject.origin.resolve_tag("conf/app", "v1")
    assert exc.value.code is errors.MANIFEST_UNKNOWN
    # A repository left without manifests: the directory keeps its folder and lists no tags,
    # a bucket has no folders and no longer knows the name. Both say: no tags.
    assert await tags_or_unknown(subject.origin, "conf/app") in ([], None)
    with pytest.raises(OCIError) as exc:
        await subject.origin.get_manifest("conf/app", digest)
    assert exc.value.code is errors.MANIFEST_UNKNOWN
    await subject.origin.unlink_blob("conf/app", layer)
    assert not await subject.origin.blob_linked("conf/app", layer)
    with pytest.raises(OCIError) as exc:
        await subject.origin.unlink_blob("conf/app", layer)
    assert exc.value.code.code == errors.BLOB_UNKNOWN.code  # a forwarded answer keeps the origin's message
