"""Bytes through a real node process: every serving path (sendfile with the C extension,
the streamed path, the pure-Python twins) delivers exactly the requested ranges, and a
2 GiB blob streams in and out with flat memory."""
from __future__ import annotations

import hashlib
import http.client
import os
import random

import pytest

from .nodeproc import NodeProcess

VARIANTS = {
    "c-sendfile": {},
    "c-streamed": {"OCICACHE_SERVER_SENDFILE": "false"},
    "python-twins-sendfile": {"OCICACHE_NO_EXTENSIONS": "1"},
}
# What the node's start-up line must say for each variant (proves which path ran).
STARTUP = {
    "c-sendfile": "range copy c, sendfile on",
    "c-streamed": "range copy c, sendfile off",
    "python-twins-sendfile": "hashing python (python), range copy python, sendfile on",
}
MiB = 1024 * 1024


def request(node: NodeProcess, method: str, path: str, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=120)
    conn.request(method, path, body=body, headers=headers or {},
                 encode_chunked=body is not None and not isinstance(body, (bytes, bytearray)))
    resp = conn.getresponse()
    return conn, resp


def push_chunked(node: NodeProcess, repo: str, data: bytes, chunk: int) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    conn, resp = request(node, "POST", f"/v2/{repo}/blobs/uploads/")
    resp.read()
    assert resp.status == 202
    location = resp.getheader("Location")
    for start in range(0, len(data), chunk):
        piece = data[start:start + chunk]
        conn, resp = request(node, "PATCH", location, piece,
                             {"Content-Range": f"{start}-{start + len(piece) - 1}",
                              "Content-Type": "application/octet-stream"})
        resp.read()
        assert resp.status == 202, resp.status
        location = resp.getheader("Location")
    conn, resp = request(node, "PUT", f"{location}?digest={digest}")
    resp.read()
    assert resp.status == 201
    return digest


@pytest.fixture(params=list(VARIANTS), scope="module")
def variant_node(request, tmp_path_factory):
    node = NodeProcess(tmp_path_factory.mktemp(request.param) / "node", env=VARIANTS[request.param])
    node.start()
    node.variant = request.param
    yield node
    node.stop()


def test_random_ranges_through_node(variant_node):
    assert STARTUP[variant_node.variant] in variant_node.log_path.read_text()
    rng = random.Random(7)
    data = rng.randbytes(5 * MiB + 123)
    digest = push_chunked(variant_node, "bytes/ranges", data, 1 * MiB + 17)
    size = len(data)
    spans = [(0, 0), (size - 1, size - 1), (0, size - 1), (size - 10, size + 500)]
    spans += [(a, a + rng.randrange(0, 2 * MiB)) for a in (rng.randrange(size) for _ in range(20))]
    for first, last in spans:
        conn, resp = request(variant_node, "GET", f"/v2/bytes/ranges/blobs/{digest}",
                             headers={"Range": f"bytes={first}-{last}"})
        body = resp.read()
        conn.close()
        assert resp.status == 206
        end = min(last, size - 1)
        assert resp.getheader("Content-Range") == f"bytes {first}-{end}/{size}"
        assert body == data[first:end + 1]
    conn, resp = request(variant_node, "GET", f"/v2/bytes/ranges/blobs/{digest}",
                         headers={"Range": f"bytes={size}-"})
    resp.read()
    assert resp.status == 416
    assert resp.getheader("Content-Range") == f"bytes */{size}"
    conn, resp = request(variant_node, "GET", f"/v2/bytes/ranges/blobs/{digest}")
    assert hashlib.sha256(resp.read()).hexdigest() == digest.split(":")[1]


def generated(total: int, block: bytes):
    """`total` bytes made of numbered copies of `block`, produced on the fly."""
    sent = 0
    index = 0
    while sent < total:
        piece = (index.to_bytes(8, "big") + block)[: total - sent]
        sent += len(piece)
        index += 1
        yield piece


def generated_digest(total: int, block: bytes) -> str:
    """The digest of `generated(total, block)`, computed without holding it."""
    hasher = hashlib.sha256()
    for piece in generated(total, block):
        hasher.update(piece)
    return "sha256:" + hasher.hexdigest()


@pytest.mark.slow
def test_2gib_blob_streams_with_flat_memory(tmp_path):
    total = 2 * 1024 * MiB
    block = os.urandom(MiB)
    digest = generated_digest(total, block)
    node = NodeProcess(tmp_path / "node")
    node.start()
    try:
        conn, resp = request(node, "POST", f"/v2/big/blob/blobs/uploads/?digest={digest}",
                             generated(total, block), {"Content-Type": "application/octet-stream"})
        assert resp.status == 201, resp.read()
        conn, resp = request(node, "GET", f"/v2/big/blob/blobs/{digest}")
        assert resp.status == 200
        assert int(resp.getheader("Content-Length")) == total
        got = hashlib.sha256()
        received = 0
        while chunk := resp.read(4 * MiB):
            got.update(chunk)
            received += len(chunk)
        assert received == total
        assert "sha256:" + got.hexdigest() == digest
        peak = node.peak_rss_bytes()
        print(f"node peak RSS {peak / MiB:.0f} MiB during a 2 GiB push and pull")
        assert peak < 200 * MiB, f"node peak RSS {peak / MiB:.0f} MiB during a 2 GiB push and pull"
    finally:
        node.stop()
