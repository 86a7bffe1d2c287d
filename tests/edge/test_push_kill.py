"""The origin process SIGKILLed while a push streams through an edge (issue 15): a real CNCF
`docker-registry`, no proxy between them. The client gets a retryable 5xx UNAVAILABLE naming
the origin, never a 201; the edge keeps no staged copy and no blob in its store; nothing is
linked at the origin; once the origin is back on its address a fresh push succeeds. Killed
mid-PATCH (the bytes streaming through to it) and while it verifies the final PUT."""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import signal
import time
from urllib.parse import urlsplit

import pytest

from ..distribution import Distribution
from ..nodeproc import NodeProcess
from ..ocisync import request, sha
from .conftest import EDGE_ENV
from .origins import copies_with_bytes, holders, push_blob, wait_for

OCTET = {"Content-Type": "application/octet-stream"}


@pytest.fixture
def registry(tmp_path):
    registry = Distribution(tmp_path / "registry").start()
    yield registry
    registry.stop()


@pytest.fixture
def edge(tmp_path, registry):
    node = NodeProcess(tmp_path / "edge", "--origin", registry.url, env=EDGE_ENV)
    node.start()
    yield node
    node.stop()


def kill(registry: Distribution) -> None:
    registry.proc.send_signal(signal.SIGKILL)
    registry.proc.wait()


def origin_upload_bytes(registry: Distribution) -> int:
    """Bytes distribution holds in its upload sessions (on its disk)."""
    root = registry.dir / "data" / "docker" / "registry" / "v2" / "repositories"
    return sum(p.stat().st_size for p in root.glob("**/_uploads/*/data"))


def staged(edge: NodeProcess) -> list:
    """Upload copies holding bytes in the edge's spool, and blob files in its store."""
    cache = edge.data_dir / "cache"
    return copies_with_bytes(edge.data_dir) + [p for p in (cache / "blobs").rglob("*") if p.is_file()]


def assert_retryable(status: int, body: bytes, registry: Distribution, request_to_origin: str) -> None:
    """A 5xx UNAVAILABLE naming the origin and the request to it that broke."""
    assert 500 <= status < 600, (status, body)
    error = json.loads(body)["errors"][0]
    assert error["code"] == "UNAVAILABLE" and registry.url in error["message"], error
    assert f"{request_to_origin} {registry.url}/v2/kill/app/blobs/uploads/" in error["message"], error


def after_restart(registry: Distribution, edge: NodeProcess, location: str, digest: str, data: bytes) -> None:
    """The origin back on its address: nothing of the broken push is linked there, cancelling
    the old session leaves the edge clean, and a fresh push of the same bytes succeeds."""
    registry.start(port=registry.port)
    assert request(registry.url, "HEAD", f"/v2/kill/app/blobs/{digest}")[0] == 404
    status, _, body = request(edge.url, "DELETE", location)
    assert status < 500, (status, body)  # distribution forgot the session or cancels it
    assert staged(edge) == []
    assert push_blob(edge.url, "kill/app", data) == sha(data)
    status, _, body = request(registry.url, "GET", f"/v2/kill/app/blobs/{sha(data)}")
    assert status == 200 and body == data


def refused_then_clean(conn: http.client.HTTPConnection, registry: Distribution, edge: NodeProcess, method: str,
                       location: str, digest: str, data: bytes) -> None:
    """The client's request in flight when the origin died: a retryable 5xx, nothing staged on
    the edge, and all of `after_restart`."""
    resp = conn.getresponse()
    assert_retryable(resp.status, resp.read(), registry, method)
    conn.close()
    assert staged(edge) == []
    after_restart(registry, edge, location, digest, data)


def start_upload(edge: NodeProcess) -> str:
    status, got, body = request(edge.url, "POST", "/v2/kill/app/blobs/uploads/")
    assert status == 202, (status, body)
    parts = urlsplit(got["Location"])
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_origin_killed_mid_patch(registry, edge):
    data = os.urandom(4_000_000)
    location = start_upload(edge)
    conn = http.client.HTTPConnection(edge.hostport.split(":")[0], edge.port, timeout=60)
    conn.putrequest("PATCH", location)
    conn.putheader("Content-Type", OCTET["Content-Type"])
    conn.putheader("Content-Length", str(len(data)))
    conn.endheaders()
    conn.send(data[:1_000_000])
    wait_for(lambda: origin_upload_bytes(registry) >= 500_000, "the origin to receive half a MB")
    kill(registry)
    refused_then_clean(conn, registry, edge, "PATCH", location, sha(data), data)


def test_origin_killed_while_it_verifies_the_final_put(registry, edge):
    """Every byte was acknowledged; the final PUT names a sha512 digest, which distribution
    verifies by reading the upload again (a second or so for 64 MiB), holding its data file
    open: it is SIGKILLed while the file has been open for a tenth of a second."""
    data = os.urandom(64 * 1024 * 1024)  # a wide window to see it verifying, on a busy machine too
    location = start_upload(edge)
    status, got, body = request(edge.url, "PATCH", location, data, OCTET)
    assert status == 202, (status, body)
    parts = urlsplit(got["Location"])
    location = parts.path + (f"?{parts.query}" if parts.query else "")
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    conn = http.client.HTTPConnection(edge.hostport.split(":")[0], edge.port, timeout=60)
    conn.request("PUT", f"{location}{'&' if parts.query else '?'}digest={digest}", b"", OCTET)
    opened: list[float] = []

    def verifying() -> bool:
        if not any(p.name == "data" and "_uploads" in p.parts for p in holders(registry.proc.pid)):
            opened.clear()  # a status GET opens it for a moment too
            return False
        opened.append(time.monotonic())
        return opened[-1] - opened[0] >= 0.1

    wait_for(verifying, "the origin to verify the upload")
    kill(registry)
    refused_then_clean(conn, registry, edge, "PUT", location, digest, data)


def test_origin_killed_after_the_whole_final_put_reached_it(registry, edge):
    """The edge keeps its copy of a final PUT while the origin still verifies and writes it;
    the origin is stopped (SIGSTOP) with every byte in its socket, the edge's store is seen to
    hold the copy, then the origin is killed: the client gets a 5xx and the copy is taken out
    of the edge's store again (only the origin's 201 makes the blob the edge's)."""
    data = os.urandom(100_000)  # fits the stopped origin's socket buffer: the body ends at the edge
    location = start_upload(edge)
    registry.proc.send_signal(signal.SIGSTOP)
    try:
        conn = http.client.HTTPConnection(edge.hostport.split(":")[0], edge.port, timeout=60)
        conn.request("PUT", f"{location}{'&' if '?' in location else '?'}digest={sha(data)}", data, OCTET)
        blobs = edge.data_dir / "cache" / "blobs"
        wait_for(lambda: any(p.is_file() for p in blobs.rglob("*")), "the edge to keep its copy before the origin answers")
    finally:
        kill(registry)
    refused_then_clean(conn, registry, edge, "PUT", location, sha(data), data)
