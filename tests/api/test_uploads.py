"""Blob uploads: monolithic (end-4b, end-6), chunked (end-5, end-13), cancel, mount (end-11),
under sha256 and sha512 (`algo`: a chunked upload hashes sha256 as it goes and, finished under
sha512, is read back once and verified); pushes under other algorithms are refused."""
from __future__ import annotations

import pytest

from .helpers import error_code, files_under, missing, push_blob, sha

REPO = "team/uploads"
DATA = b"0123456789abcdef" * 64  # 1024 bytes


async def start(client, repo: str = REPO):
    resp = await client.post(f"/v2/{repo}/blobs/uploads/")
    assert resp.status == 202, await resp.text()
    return resp


async def get_blob(client, digest: str, repo: str = REPO):
    resp = await client.get(f"/v2/{repo}/blobs/{digest}")
    return resp.status, await resp.read()


def uploads_dir(cfg):
    return cfg.data_path / "uploads"


async def test_monolithic_post(client, algo):
    digest = sha(DATA, algo)
    resp = await client.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": digest}, data=DATA)
    assert resp.status == 201
    assert resp.headers["Location"] == f"/v2/{REPO}/blobs/{digest}"
    assert resp.headers["Docker-Content-Digest"] == digest
    assert await get_blob(client, digest) == (200, DATA)


async def test_post_opens_session(client):
    resp = await start(client)
    uuid = resp.headers["Docker-Upload-UUID"]
    assert uuid
    assert resp.headers["Location"] == f"/v2/{REPO}/blobs/uploads/{uuid}"
    assert resp.headers["Range"] == "0-0"
    assert int(resp.headers.get("Content-Length", "0")) == 0


async def test_post_then_put_monolithic(client, algo):
    location = (await start(client)).headers["Location"]
    digest = sha(DATA, algo)
    resp = await client.put(location, params={"digest": digest}, data=DATA)
    assert resp.status == 201
    assert resp.headers["Location"] == f"/v2/{REPO}/blobs/{digest}"
    assert resp.headers["Docker-Content-Digest"] == digest
    assert await get_blob(client, digest) == (200, DATA)
    resp = await client.get(location)
    assert resp.status == 404  # a finished upload is no longer a session
    assert await error_code(resp) == "BLOB_UPLOAD_UNKNOWN"


async def test_chunks_with_content_range_then_put_without_body(client, cfg, algo):
    location = (await start(client)).headers["Location"]
    for first, last in ((0, 299), (300, 799), (800, 1023)):
        resp = await client.patch(location, data=DATA[first:last + 1],
                                  headers={"Content-Range": f"{first}-{last}"})
        assert resp.status == 202, await resp.text()
        assert resp.headers["Range"] == f"0-{last}"
        location = resp.headers["Location"]
    resp = await client.get(location)
    assert resp.status == 204
    assert resp.headers["Range"] == f"0-{len(DATA) - 1}"
    resp = await client.put(location, params={"digest": sha(DATA, algo)})
    assert resp.status == 201
    assert resp.headers["Docker-Content-Digest"] == sha(DATA, algo)
    assert await get_blob(client, sha(DATA, algo)) == (200, DATA)
    assert files_under(uploads_dir(cfg)) == set()


async def test_streamed_chunks_without_content_range_and_final_chunk_in_put(client, algo):
    location = (await start(client)).headers["Location"]

    async def stream(data: bytes):
        for i in range(0, len(data), 100):
            yield data[i:i + 100]

    resp = await client.patch(location, data=stream(DATA[:600]))  # chunked transfer, no Content-Length
    assert resp.status == 202
    assert resp.headers["Range"] == "0-599"
    resp = await client.put(resp.headers["Location"], params={"digest": sha(DATA, algo)}, data=DATA[600:],
                            headers={"Content-Range": f"600-{len(DATA) - 1}"})
    assert resp.status == 201
    assert await get_blob(client, sha(DATA, algo)) == (200, DATA)


async def test_out_of_order_chunk_is_416_with_current_range(client):
    location = (await start(client)).headers["Location"]
    assert (await client.patch(location, data=DATA[:100], headers={"Content-Range": "0-99"})).status == 202
    for bad in ("200-299", "50-149", "0-99"):
        resp = await client.patch(location, data=DATA[:100], headers={"Content-Range": bad})
        assert resp.status == 416
        assert resp.headers["Range"] == "0-99"
        assert resp.headers["Location"] == location
        assert await error_code(resp) == "RANGE_INVALID"
    resp = await client.get(location)
    assert resp.status == 204
    assert resp.headers["Range"] == "0-99"  # the refused chunks left nothing behind


async def test_chunk_length_disagreeing_with_content_range_is_400(client):
    location = (await start(client)).headers["Location"]
    resp = await client.patch(location, data=DATA[:50], headers={"Content-Range": "0-99"})
    assert resp.status == 400
    assert await error_code(resp) == "BLOB_UPLOAD_INVALID"
    resp = await client.get(location)
    assert resp.status == 204
    assert resp.headers["Range"] == "0-0"


async def test_streamed_chunk_shorter_than_content_range_is_rolled_back(client, algo):
    location = (await start(client)).headers["Location"]
    assert (await client.patch(location, data=DATA[:10], headers={"Content-Range": "0-9"})).status == 202

    async def stream():
        yield DATA[10:40]
        yield DATA[40:60]

    resp = await client.patch(location, data=stream(), headers={"Content-Range": "10-109"})
    assert resp.status == 400
    assert await error_code(resp) == "BLOB_UPLOAD_INVALID"
    assert resp.headers["Range"] == "0-9"
    resp = await client.put(location, params={"digest": sha(DATA, algo)}, data=DATA[10:],
                            headers={"Content-Range": f"10-{len(DATA) - 1}"})
    assert resp.status == 201
    assert await get_blob(client, sha(DATA, algo)) == (200, DATA)


async def test_malformed_content_range_is_refused(client):
    location = (await start(client)).headers["Location"]
    resp = await client.patch(location, data=b"abc", headers={"Content-Range": "bytes=zero-two"})
    assert resp.status in (400, 416)
    assert await error_code(resp) in ("BLOB_UPLOAD_INVALID", "RANGE_INVALID")
    assert (await client.get(location)).headers["Range"] == "0-0"


async def test_get_status_of_fresh_session(client):
    resp = await start(client)
    location, uuid = resp.headers["Location"], resp.headers["Docker-Upload-UUID"]
    resp = await client.get(location)
    assert resp.status == 204
    assert resp.headers["Location"] == location
    assert resp.headers["Range"] == "0-0"
    assert resp.headers["Docker-Upload-UUID"] == uuid


async def test_cancel_upload(client, cfg):
    location = (await start(client)).headers["Location"]
    assert (await client.patch(location, data=DATA[:10])).status == 202
    resp = await client.delete(location)
    assert resp.status == 204
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        resp = await client.request(method, location, params={"digest": sha(DATA)})
        assert resp.status == 404, method
        assert await error_code(resp) == "BLOB_UPLOAD_UNKNOWN"
    assert files_under(uploads_dir(cfg)) == set()


async def test_digest_mismatch_keeps_nothing(client, cfg, algo):
    location = (await start(client)).headers["Location"]
    wrong = sha(b"something else", algo)
    resp = await client.put(location, params={"digest": wrong}, data=DATA)
    assert resp.status == 400
    assert await error_code(resp) == "DIGEST_INVALID"
    assert (await get_blob(client, wrong))[0] == 404
    assert (await get_blob(client, sha(DATA, algo)))[0] == 404
    resp = await client.get(location)
    assert resp.status == 404
    assert await error_code(resp) == "BLOB_UPLOAD_UNKNOWN"
    assert files_under(uploads_dir(cfg)) == set()


async def test_monolithic_post_digest_mismatch_keeps_nothing(client, cfg, algo):
    wrong = sha(b"not this", algo)
    resp = await client.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": wrong}, data=DATA)
    assert resp.status == 400
    assert await error_code(resp) == "DIGEST_INVALID"
    assert (await get_blob(client, wrong))[0] == 404
    assert (await get_blob(client, sha(DATA, algo)))[0] == 404
    assert files_under(uploads_dir(cfg)) == set()


@pytest.mark.parametrize("digest", ["sha256:1234", "sha256:" + "Z" * 64, "nothing", "sha256:",
                                    ":" + "a" * 64, "sha512:" + "a" * 64, "sha512:" + "F" * 128])
async def test_bad_digest_strings(client, cfg, digest):
    resp = await client.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": digest}, data=DATA)
    assert resp.status == 400
    assert await error_code(resp) == "DIGEST_INVALID"
    location = (await start(client)).headers["Location"]
    resp = await client.put(location, params={"digest": digest}, data=DATA)
    assert resp.status == 400
    assert await error_code(resp) == "DIGEST_INVALID"


async def test_put_without_digest_is_refused(client):
    location = (await start(client)).headers["Location"]
    resp = await client.put(location, data=DATA)
    assert resp.status == 400
    assert await error_code(resp) == "DIGEST_INVALID"


async def test_upload_id_of_another_repo_is_404(client):
    uuid = (await start(client)).headers["Docker-Upload-UUID"]
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        resp = await client.request(method, f"/v2/someone/else/blobs/uploads/{uuid}",
                                    params={"digest": sha(DATA)}, data=DATA)
        assert resp.status == 404, method
        assert await error_code(resp) == "BLOB_UPLOAD_UNKNOWN"
    resp = await client.get(f"/v2/{REPO}/blobs/uploads/{uuid}")
    assert resp.status == 204  # still usable in its own repository


@pytest.mark.parametrize("uuid", ["0" * 32, "not-a-uuid", "A" * 32])
async def test_unknown_upload_id_is_404(client, uuid):
    resp = await client.get(f"/v2/{REPO}/blobs/uploads/{uuid}")
    assert resp.status == 404
    assert await error_code(resp) == "BLOB_UPLOAD_UNKNOWN"


async def test_mount_from_repo_that_has_the_blob(client, algo):
    digest = await push_blob(client, "source/repo", DATA, algo)
    resp = await client.post(f"/v2/{REPO}/blobs/uploads/", params={"mount": digest, "from": "source/repo"})
    assert resp.status == 201
    assert resp.headers["Location"] == f"/v2/{REPO}/blobs/{digest}"
    assert resp.headers["Docker-Content-Digest"] == digest
    assert await get_blob(client, digest) == (200, DATA)


@pytest.mark.parametrize("source", ["empty/repo", "source/repo"])
async def test_mount_falls_back_to_session(client, source, algo):
    await push_blob(client, "source/repo", b"a different blob", algo)
    resp = await client.post(f"/v2/{REPO}/blobs/uploads/", params={"mount": sha(DATA, algo), "from": source})
    assert resp.status == 202
    location = resp.headers["Location"]
    assert location == f"/v2/{REPO}/blobs/uploads/{resp.headers['Docker-Upload-UUID']}"
    assert (await get_blob(client, sha(DATA, algo)))[0] == 404
    resp = await client.put(location, params={"digest": sha(DATA, algo)}, data=DATA)
    assert resp.status == 201


@pytest.mark.parametrize("mount,source", [("sha256:abc", "source/repo"), ("{digest}", "Bad/../Name"),
                                          ("{digest}", "/etc"), ("{digest}", ""),
                                          ("sha384:" + "a" * 96, "source/repo")])
async def test_mount_with_invalid_arguments_falls_back_to_session(client, mount, source, algo):
    digest = await push_blob(client, "source/repo", DATA, algo)
    resp = await client.post(f"/v2/{REPO}/blobs/uploads/",
                             params={"mount": mount.format(digest=digest), "from": source})
    assert resp.status == 202
    assert resp.headers["Location"].startswith(f"/v2/{REPO}/blobs/uploads/")
    assert resp.headers["Range"] == "0-0"
    assert (await get_blob(client, digest))[0] == 404


@pytest.mark.parametrize("digest", ["sha384:" + "a" * 96, "blake3:" + "b" * 64, "md5:" + "c" * 32])
async def test_pushing_under_another_algorithm_is_refused(client, cfg, digest):
    """Well-formed, but not an algorithm this registry stores: 400 DIGEST_INVALID, nothing kept."""
    resp = await client.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": digest}, data=DATA)
    assert resp.status == 400
    assert await error_code(resp) == "DIGEST_INVALID"
    assert "sha256 or sha512" in (await resp.json())["errors"][0]["message"]
    location = (await start(client)).headers["Location"]
    resp = await client.put(location, params={"digest": digest}, data=DATA)
    assert resp.status == 400
    assert await error_code(resp) == "DIGEST_INVALID"
    resp = await client.put(location, params={"digest": sha(DATA, "sha512")}, data=DATA)  # still open, empty
    assert resp.status == 201
    assert await get_blob(client, sha(DATA, "sha512")) == (200, DATA)
    assert files_under(uploads_dir(cfg)) == set()


async def test_one_upload_one_algorithm(client, algo):
    """The same bytes pushed under sha256 and sha512 are two blobs, each found by its own digest."""
    other = "sha512" if algo == "sha256" else "sha256"
    digest = await push_blob(client, REPO, DATA, algo)
    assert await get_blob(client, digest) == (200, DATA)
    assert (await get_blob(client, sha(DATA, other)))[0] == 404
    assert (await get_blob(client, missing(algo)))[0] == 404
