"""sha512 content as CNCF distribution v3 lays it out, on both origins, and the paths that differ
from sha256: a chunked upload big enough to be an S3 multipart upload, finished under sha512
(read back from the bucket once and verified), and upload sessions saved with either state."""
from __future__ import annotations

import json
import os
from urllib.parse import urlsplit

import pytest

from ocicache.origin.uploads import load_hasher
from ocicache.reference import Digest
from ocicache.registry.uploads import Uploads

from .helpers import OCI_MANIFEST, descriptor, image_manifest, push_blob, push_image, put_manifest, sha

REPO = "layout/app"
ROOT = "docker/registry/v2"
MIB = 1024 * 1024


def stored(request, cfg) -> dict[str, bytes | None]:
    """Every object of the origin, relative to docker/registry/v2: link contents, None for data."""
    url = urlsplit(cfg.origin_url)
    if url.scheme == "file":
        base = cfg.data_path / "origin" / ROOT
        return {str(p.relative_to(base)): (p.read_bytes() if p.name == "link" else None)
                for p in base.rglob("*") if p.is_file()}
    client = request.getfixturevalue("s3server").client()
    prefix = url.path.strip("/") + "/" + ROOT + "/"
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=url.netloc, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"][len(prefix):]
            link = key.endswith("/link")
            found[key] = client.get_object(Bucket=url.netloc, Key=obj["Key"])["Body"].read() if link else None
    return found


def pending_multipart(request, cfg) -> list[str]:
    url = urlsplit(cfg.origin_url)
    if url.scheme == "file":
        return []
    client = request.getfixturevalue("s3server").client()
    pages = client.get_paginator("list_multipart_uploads").paginate(Bucket=url.netloc)
    return [u["Key"] for page in pages for u in page.get("Uploads", [])]


def data_path(digest: str) -> str:
    algorithm, _, hexdigest = digest.partition(":")
    return f"blobs/{algorithm}/{hexdigest[:2]}/{hexdigest}/data"


@pytest.mark.in_process("reads the origin's objects by repository name; the process targets' names carry a namespace")
async def test_sha512_content_is_laid_out_as_distribution_v3(request, client, cfg):
    image = await push_image(client, REPO, None, algo="sha512")
    config, layer = b'{"sig":1}', b"signature"
    await push_blob(client, REPO, config, "sha512")
    await push_blob(client, REPO, layer, "sha512")
    referrer = image_manifest(config, layer, algo="sha512",
                              subject=descriptor(OCI_MANIFEST, image.manifest, "sha512"))
    await put_manifest(client, REPO, sha(referrer, "sha512"), referrer, OCI_MANIFEST)
    objects = stored(request, cfg)
    repo = f"repositories/{REPO}"
    for digest in (image.config, image.layer, image.digest, sha(referrer, "sha512")):
        assert data_path(digest) in objects, digest
    hexes = {name: d.partition(":")[2] for name, d in
             (("config", image.config), ("layer", image.layer), ("image", image.digest))}
    for name in ("config", "layer"):
        assert objects[f"{repo}/_layers/sha512/{hexes[name]}/link"] == f"sha512:{hexes[name]}".encode()
    assert objects[f"{repo}/_manifests/revisions/sha512/{hexes['image']}/link"] == image.digest.encode()
    ref_hex = sha(referrer, "sha512").partition(":")[2]
    assert objects[f"{repo}/_refs/subjects/sha512/{hexes['image']}/sha512/{ref_hex}/link"] == \
        f"sha512:{ref_hex}".encode()
    # nothing of it under sha256 (no canonical copy, no alias links)
    assert not [key for key in objects if "sha256" in key], sorted(objects)


@pytest.mark.in_process("asserts the origin holds no blob but its own, which a node shared by many tests cannot")
async def test_big_chunked_upload_finished_under_sha512(request, client, cfg):
    """12 MiB in three chunks: on S3 that is a multipart upload, hashed sha256 as it went; the final
    sha512 digest is verified by reading the completed object back. A wrong digest keeps nothing."""
    data = os.urandom(12 * MIB + 5)
    for digest, status in ((sha(data + b"x", "sha512"), 400), (sha(data, "sha512"), 201)):
        resp = await client.post(f"/v2/{REPO}/blobs/uploads/")
        location = resp.headers["Location"]
        for start in range(0, len(data), 5 * MIB):
            chunk = data[start:start + 5 * MIB]
            resp = await client.patch(location, data=chunk,
                                      headers={"Content-Range": f"{start}-{start + len(chunk) - 1}"})
            assert resp.status == 202, await resp.text()
            location = resp.headers["Location"]
        resp = await client.put(location, params={"digest": digest})
        assert resp.status == status, await resp.text()
        if status == 400:
            assert (await resp.json())["errors"][0]["code"] == "DIGEST_INVALID"
            assert (await client.get(location)).status == 404
            assert not [k for k in stored(request, cfg) if k.startswith(("blobs/", "_uploads/"))]
            assert pending_multipart(request, cfg) == []
    resp = await client.get(f"/v2/{REPO}/blobs/{sha(data, 'sha512')}")
    assert resp.status == 200
    assert await resp.read() == data
    assert data_path(sha(data, "sha512")) in stored(request, cfg)
    assert (await client.get(f"/v2/{REPO}/blobs/{sha(data)}")).status == 404


@pytest.mark.parametrize("algo", ["sha256", "sha512"])
async def test_upload_session_saves_and_resumes_its_hash_state(tmp_path, algo):
    """A session opened with a digest hashes in its algorithm; saved (`<alg>_state`, the sha256
    key as before sha512 existed), it resumes where it was, in a new process as in this one."""
    data = os.urandom(300_000)
    digest = Digest.parse(sha(data, algo))
    uploads = Uploads(tmp_path / "uploads", 64 * 1024, origin=None)
    session = await uploads.create(REPO, digest)

    async def body(piece: bytes):
        yield piece

    async with uploads.open(REPO, session.id) as held:
        assert held.algorithm == algo
        await uploads.append(held, body(data[:123_457]))
    state = json.loads((tmp_path / "uploads" / session.id / "state.json").read_text())
    assert f"{algo}_state" in state and state["offset"] == 123_457
    assert load_hasher(state)[0] == algo
    async with uploads.open(REPO, session.id) as held:
        await uploads.append(held, body(data[123_457:]))
        assert held.hasher.hexdigest() == digest.hex
        assert held.data_path.read_bytes() == data


async def test_chunked_session_hashes_sha256_until_told(tmp_path):
    """Without a digest at POST a session hashes sha256 (the canonical algorithm) and saves that."""
    uploads = Uploads(tmp_path / "uploads", 64 * 1024, origin=None)
    session = await uploads.create(REPO)
    state = json.loads((tmp_path / "uploads" / session.id / "state.json").read_text())
    assert session.algorithm == "sha256" and "sha256_state" in state and "sha512_state" not in state
