"""Input limits: blob size, open upload sessions per identity, upload expiry, slow senders,
request line and header sizes, and the start-up warning for an exposed plain-HTTP node."""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

import pytest

from ocicache.app import make_app
from ocicache.commands import serve as commands
from ocicache.registry.expiry import expire_uploads

from ..api.helpers import error_code, sha
from ..nodeproc import NodeProcess
from .conftest import basic


async def test_blob_larger_than_the_limit_is_413(aiohttp_client, cfg):
    client = await aiohttp_client(make_app(cfg.replace(limits={"max_blob_bytes": 10_000})))
    big = os.urandom(10_001)
    resp = await client.post("/v2/a/b/blobs/uploads/", params={"digest": sha(big)}, data=big)
    assert resp.status == 413 and await error_code(resp) == "SIZE_INVALID"
    # streamed without Content-Length: refused once the bytes pass the limit
    async def stream():
        for i in range(0, len(big), 1000):
            yield big[i:i + 1000]
    resp = await client.post("/v2/a/b/blobs/uploads/")
    location = resp.headers["Location"]
    resp = await client.patch(location, data=stream())
    assert resp.status == 413
    resp = await client.get(location)
    assert resp.status == 204 and int(resp.headers["Range"].split("-")[1]) < 10_000
    # chunks that add up past the limit
    resp = await client.patch(location, data=b"x", headers={"Content-Range": "10000-10000"})
    assert resp.status in (413, 416)
    ok = os.urandom(10_000)
    resp = await client.post("/v2/a/b/blobs/uploads/", params={"digest": sha(ok)}, data=ok)
    assert resp.status == 201


async def test_open_upload_sessions_are_capped_per_identity(make_client):
    client = await make_client(limits={"max_uploads_per_client": 3})
    locations = []
    for _ in range(3):
        resp = await client.post("/v2/team/app/blobs/uploads/", headers=basic("alice"))
        assert resp.status == 202
        locations.append(resp.headers["Location"])
    resp = await client.post("/v2/team/app/blobs/uploads/", headers=basic("alice"))
    assert resp.status == 429 and await error_code(resp) == "TOOMANYREQUESTS"
    assert "Retry-After" in resp.headers
    assert (await client.post("/v2/team/app/blobs/uploads/", headers=basic("bob"))).status == 202
    assert (await client.delete(locations[0], headers=basic("alice"))).status == 204
    data = b"done"
    resp = await client.put(locations[1], params={"digest": sha(data)}, data=data, headers=basic("alice"))
    assert resp.status == 201
    for _ in range(2):
        assert (await client.post("/v2/team/app/blobs/uploads/", headers=basic("alice"))).status == 202
    assert (await client.post("/v2/team/app/blobs/uploads/", headers=basic("alice"))).status == 429


def test_idle_upload_sessions_expire(tmp_path):
    root = tmp_path / "uploads"
    fresh, stale, other = root / ("a" * 32), root / ("b" * 32), root / "not-a-session"
    for d in (fresh, stale, other):
        d.mkdir(parents=True)
        (d / "state.json").write_text("{}")
    old = time.time() - 7200
    os.utime(stale / "state.json", (old, old))
    os.utime(other / "state.json", (old, old))
    assert expire_uploads(root, 3600) == 1
    assert fresh.exists() and not stale.exists() and other.exists()
    assert expire_uploads(tmp_path / "missing", 3600) == 0


async def test_a_body_that_stalls_is_cut_off(aiohttp_client, cfg):
    client = await aiohttp_client(make_app(cfg.replace(limits={"body_timeout": 0.5})))
    resp = await client.post("/v2/a/b/blobs/uploads/")
    location = resp.headers["Location"]

    async def stall():
        yield b"x" * 100
        await asyncio.sleep(5)
        yield b"y"
    started = time.monotonic()
    try:
        resp = await asyncio.wait_for(client.patch(location, data=stall()), 4)
        assert resp.status == 408
    except Exception as exc:  # the server may close before the client reads its answer
        assert not isinstance(exc, asyncio.TimeoutError), "the stalled request was not cut off"
    assert time.monotonic() - started < 4


@pytest.fixture(scope="module")
def tight_node(tmp_path_factory):
    node = NodeProcess(tmp_path_factory.mktemp("tight") / "node",
                       env={"OCICACHE_LIMITS_IDLE_TIMEOUT": "1", "OCICACHE_LIMITS_MAX_URL_BYTES": "2048",
                            "OCICACHE_LIMITS_MAX_HEADERS": "20"})
    node.start()
    yield node
    node.stop()


def _raw(node, data: bytes, wait: float = 5.0) -> bytes:
    with socket.create_connection(("127.0.0.1", node.port), timeout=wait) as sock:
        sock.sendall(data)
        out = b""
        while True:
            try:
                piece = sock.recv(65536)
            except socket.timeout:
                return out
            if not piece:
                return out
            out += piece


def test_long_request_line_is_refused_without_5xx(tight_node):
    answer = _raw(tight_node, b"GET /v2/" + b"a" * 3000 + b"/tags/list HTTP/1.1\r\nHost: x\r\n\r\n")
    assert answer.split(b" ")[1][:1] == b"4", answer[:200]


def test_too_many_headers_are_refused_without_5xx(tight_node):
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(50))
    answer = _raw(tight_node, b"GET /v2/ HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
    assert answer.split(b" ")[1][:1] == b"4", answer[:200]


def test_slow_headers_are_dropped(tight_node):
    """slowloris: a client that dribbles its headers is disconnected after the idle timeout."""
    with socket.create_connection(("127.0.0.1", tight_node.port), timeout=10) as sock:
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        closed = False
        for i in range(40):
            time.sleep(0.2)
            try:
                sock.sendall(b"X-Slow-%d: y\r\n" % i)
            except OSError:
                closed = True
                break
            sock.setblocking(False)
            try:
                if sock.recv(1024) == b"":
                    closed = True
                    break
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
        assert closed, "the node kept a dribbling connection open"
        assert time.monotonic() - started < 5


def test_exposed_plain_http_warns(cfg, caplog):
    caplog.set_level(logging.WARNING, "ocicache")
    commands.warn_exposure(cfg, "127.0.0.1")
    assert not caplog.records
    commands.warn_exposure(cfg, "0.0.0.0")
    assert "no authentication" in caplog.text
