"""Blobs: HEAD/GET (end-2), Range requests (RFC 9110 14) and DELETE (end-10), under sha256 and
sha512 digests (`algo`); digests of other algorithms and malformed ones."""
from __future__ import annotations

import pytest

from .helpers import error_code, missing, push_blob, sha

REPO = "library/blobs"
DATA = bytes(range(256)) * 4 + b"tail"  # 1028 bytes
SIZE = len(DATA)


@pytest.fixture
async def blob(client, algo):
    return await push_blob(client, REPO, DATA, algo)


def assert_blob_headers(resp, digest: str, length: int) -> None:
    assert resp.headers["Docker-Content-Digest"] == digest
    assert int(resp.headers["Content-Length"]) == length
    assert resp.headers["Accept-Ranges"] == "bytes"
    assert "immutable" in resp.headers["Cache-Control"]
    assert resp.headers["ETag"] == f'"{digest}"'


async def test_head_blob(client, blob):
    resp = await client.head(f"/v2/{REPO}/blobs/{blob}")
    assert resp.status == 200
    assert_blob_headers(resp, blob, SIZE)
    assert await resp.read() == b""


async def test_get_blob(client, blob):
    resp = await client.get(f"/v2/{REPO}/blobs/{blob}")
    assert resp.status == 200
    assert_blob_headers(resp, blob, SIZE)
    assert "Content-Range" not in resp.headers
    assert await resp.read() == DATA


async def test_get_empty_blob(client, algo):
    digest = await push_blob(client, REPO, b"", algo)
    resp = await client.get(f"/v2/{REPO}/blobs/{digest}")
    assert resp.status == 200
    assert_blob_headers(resp, digest, 0)
    assert await resp.read() == b""


@pytest.mark.parametrize("header,start,end", [
    ("bytes=0-9", 0, 9),                     # first bytes
    ("bytes=100-299", 100, 299),             # middle
    ("bytes=-10", SIZE - 10, SIZE - 1),      # suffix
    ("bytes=1000-", 1000, SIZE - 1),         # open-ended
    (f"bytes={SIZE - 1}-{SIZE - 1}", SIZE - 1, SIZE - 1),  # last byte
    (f"bytes=1020-{SIZE + 500}", 1020, SIZE - 1),          # past the end: clipped
    (f"bytes=-{SIZE * 2}", 0, SIZE - 1),     # suffix longer than the blob: all of it
])
async def test_range(client, blob, header, start, end):
    resp = await client.get(f"/v2/{REPO}/blobs/{blob}", headers={"Range": header})
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert_blob_headers(resp, blob, end - start + 1)
    assert await resp.read() == DATA[start:end + 1]


@pytest.mark.parametrize("header", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=-0"])
async def test_unsatisfiable_range_is_416(client, blob, header):
    resp = await client.get(f"/v2/{REPO}/blobs/{blob}", headers={"Range": header})
    assert resp.status == 416
    assert resp.headers["Content-Range"] == f"bytes */{SIZE}"
    assert await error_code(resp) == "RANGE_INVALID"


@pytest.mark.parametrize("header", ["bytes=0-1,5-9", "bytes=abc", "items=0-5", "bytes=9-3", "bytes=-"])
async def test_malformed_or_multi_range_serves_whole_blob(client, blob, header):
    resp = await client.get(f"/v2/{REPO}/blobs/{blob}", headers={"Range": header})
    assert resp.status == 200
    assert "Content-Range" not in resp.headers
    assert_blob_headers(resp, blob, SIZE)
    assert await resp.read() == DATA


async def test_unknown_blob_is_404(client, blob, algo):
    for method in ("GET", "HEAD"):
        resp = await client.request(method, f"/v2/{REPO}/blobs/{missing(algo)}")
        assert resp.status == 404
    resp = await client.get(f"/v2/{REPO}/blobs/{missing(algo)}")
    assert await error_code(resp) == "BLOB_UNKNOWN"


async def test_head_error_has_no_body_but_a_length(client):
    resp = await client.head(f"/v2/{REPO}/blobs/{missing()}")
    assert resp.status == 404
    assert resp.headers["Content-Type"].startswith("application/json")
    assert int(resp.headers["Content-Length"]) > 0
    assert await resp.read() == b""


async def test_blob_not_linked_in_other_repo_is_404(client, blob):
    resp = await client.get(f"/v2/other/repo/blobs/{blob}")
    assert resp.status == 404
    assert await error_code(resp) == "BLOB_UNKNOWN"
    resp = await client.head(f"/v2/other/repo/blobs/{blob}")
    assert resp.status == 404
    assert "Docker-Content-Digest" not in resp.headers


@pytest.mark.parametrize("digest", ["sha256:abc", "sha256:" + "A" * 64, "notadigest", "sha256:" + "g" * 64,
                                    "sha512:" + "a" * 64, "sha512:" + "A" * 128, "sha512:" + "a" * 129,
                                    "sha384:" + "a" * 64, "blake3:" + "0" * 63, "SHA256:" + "a" * 64,
                                    "sha256:", ":" + "a" * 64, "sha256+:" + "a" * 64, "x:a.b"])
async def test_bad_digest_is_400(client, digest):
    for method in ("GET", "DELETE"):
        resp = await client.request(method, f"/v2/{REPO}/blobs/{digest}")
        assert resp.status == 400, method
        assert await error_code(resp) == "DIGEST_INVALID"
    assert (await client.head(f"/v2/{REPO}/blobs/{digest}")).status == 400


# Well-formed (OCI image spec grammar) but of an algorithm this registry stores nothing under:
# nothing can be there, so reads and deletes are 404, not 400.
OTHER_ALGORITHMS = ["sha384:" + "a" * 96, "blake3:" + "b" * 64, "md5:" + "c" * 32,
                    "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
                    "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8"]


@pytest.mark.parametrize("digest", OTHER_ALGORITHMS)
async def test_digest_of_other_algorithm_is_404(client, blob, digest):
    for method in ("GET", "HEAD", "DELETE"):
        resp = await client.request(method, f"/v2/{REPO}/blobs/{digest}")
        assert resp.status == 404, method
        if method != "HEAD":
            assert await error_code(resp) == "BLOB_UNKNOWN"
    assert (await client.get(f"/v2/{REPO}/blobs/{blob}")).status == 200


async def test_delete_blob_then_404(client, blob):
    resp = await client.delete(f"/v2/{REPO}/blobs/{blob}")
    assert resp.status == 202
    assert resp.headers["Docker-Content-Digest"] == blob
    resp = await client.get(f"/v2/{REPO}/blobs/{blob}")
    assert resp.status == 404
    assert await error_code(resp) == "BLOB_UNKNOWN"
    resp = await client.delete(f"/v2/{REPO}/blobs/{blob}")
    assert resp.status == 404
    assert await error_code(resp) == "BLOB_UNKNOWN"


async def test_delete_in_one_repo_leaves_the_other(client, blob, algo):
    await push_blob(client, "second/repo", DATA, algo)
    assert (await client.delete(f"/v2/{REPO}/blobs/{blob}")).status == 202
    resp = await client.get(f"/v2/second/repo/blobs/{blob}")
    assert resp.status == 200
    assert await resp.read() == DATA
    assert sha(DATA, algo) == blob
