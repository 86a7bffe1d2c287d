"""A 256 MiB blob pushed in chunks under sha512: across two nodes on one bucket with one of them
killed and restarted mid-upload (S3 sessions), and across a restart of a node whose uploads are
staged on its own disk. The session hashes sha256 as it goes (a chunked upload names its digest
only at the end); the final sha512 is verified by reading the completed upload back once. The
test never holds the blob: every 1 MiB piece is made again from its index when needed."""
from __future__ import annotations

import hashlib
import http.client
import random
import signal
from urllib.parse import urlsplit

from ..nodeproc import NodeProcess
from ..ocisync import request
from .conftest import bucket_keys, pending_multipart

MiB = 1024 * 1024
PIECES = 256  # 256 MiB
CHUNK_PIECES = 32  # one PATCH: 32 MiB


def piece(i: int) -> bytes:
    return random.Random(i).randbytes(MiB)


def digests() -> tuple[str, str]:
    h512, h256 = hashlib.sha512(), hashlib.sha256()
    for i in range(PIECES):
        data = piece(i)
        h512.update(data)
        h256.update(data)
    return "sha512:" + h512.hexdigest(), "sha256:" + h256.hexdigest()


def patch(node, location: str, first: int, last: int) -> dict:
    """PATCH pieces [first, last) streamed (chunked transfer), with their Content-Range."""
    start, end = first * MiB, last * MiB - 1
    status, headers, body = request(node.url, "PATCH", location, (piece(i) for i in range(first, last)),
                                    {"Content-Range": f"{start}-{end}"}, timeout=300)
    assert status == 202, body
    assert headers["Range"] == f"0-{end}"
    return headers


def streamed_sha512(node, repo: str, digest: str) -> str:
    url = urlsplit(node.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=300)
    try:
        conn.request("GET", f"/v2/{repo}/blobs/{digest}")
        resp = conn.getresponse()
        assert resp.status == 200, resp.read(300)
        hasher = hashlib.sha512()
        while chunk := resp.read(MiB):
            hasher.update(chunk)
        return "sha512:" + hasher.hexdigest()
    finally:
        conn.close()


def restart(node: NodeProcess) -> None:
    node.proc.send_signal(signal.SIGKILL)
    node.proc.wait()
    node.start()


def test_256mib_sha512_chunked_across_two_nodes_and_a_restart(fleet, s3server, bucket):
    a, b = fleet(2)
    digest, sha256_digest = digests()
    status, headers, _ = request(a.url, "POST", "/v2/big/sha512/blobs/uploads/")
    assert status == 202
    location = headers["Location"]
    nodes = [a, b]
    for n, first in enumerate(range(0, PIECES, CHUNK_PIECES)):
        if first == PIECES // 2:
            restart(a)  # half way: A dies (SIGKILL) and comes back; the session lives in the bucket
            status, headers, _ = request(b.url, "GET", location)
            assert status == 204 and headers["Range"] == f"0-{first * MiB - 1}"
        patch(nodes[n % 2], location, first, first + CHUNK_PIECES)
    status, _, body = request(b.url, "PUT", f"{location}?digest={digest}", timeout=600)
    assert status == 201, body
    for node in (a, b):
        assert streamed_sha512(node, "big/sha512", digest) == digest
    assert request(a.url, "HEAD", f"/v2/big/sha512/blobs/{sha256_digest}")[0] == 404
    keys = bucket_keys(s3server, bucket)
    assert any(k.endswith(f"/blobs/sha512/{digest[7:9]}/{digest[7:]}/data") for k in keys)
    assert not [k for k in keys if "/_uploads/" in k] and pending_multipart(s3server, bucket) == []


def test_256mib_sha512_chunked_across_a_restart_of_a_staging_node(tmp_path):
    """A node with a local-directory origin stages uploads on its disk: killed half way, restarted,
    the session goes on from its saved offset and hash state, and the PUT verifies sha512."""
    node = NodeProcess(tmp_path / "node")
    node.start()
    try:
        digest, _ = digests()
        status, headers, _ = request(node.url, "POST", "/v2/big/staged/blobs/uploads/")
        location = headers["Location"]
        for first in range(0, PIECES, CHUNK_PIECES):
            if first == PIECES // 2:
                restart(node)
                status, headers, _ = request(node.url, "GET", location)
                assert status == 204 and headers["Range"] == f"0-{first * MiB - 1}"
            patch(node, location, first, first + CHUNK_PIECES)
        status, _, body = request(node.url, "PUT", f"{location}?digest={digest}", timeout=600)
        assert status == 201, body
        assert streamed_sha512(node, "big/staged", digest) == digest
        data = node.data_dir / "origin/docker/registry/v2/blobs/sha512" / digest[7:9] / digest[7:] / "data"
        assert data.stat().st_size == PIECES * MiB
        assert not list((node.data_dir / "uploads").iterdir())
    finally:
        node.stop()
