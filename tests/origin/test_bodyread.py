"""A fill's GET body read straight into buffers (origin/bodyread.py) through DistributionOrigin's
open_blob, against a real HTTP server on loopback that sends exactly the bytes each test scripts:
whole bodies byte for byte (fast, trickled, paused by a slow consumer), and bodies that end early,
run long or stall, which must become UNAVAILABLE with the offset to resume from."""
from __future__ import annotations

import asyncio
import hashlib
import os

import pytest
import uvloop

from ocicache import errors
from ocicache.errors import OCIError
from ocicache.origin import bodyread
from ocicache.origin.distribution import DistributionOrigin
from ocicache.reference import Digest

REPO = "team/app"


@pytest.fixture(params=["uvloop", "asyncio"])
def loop_run(request):
    """Each test on the node's event loop (uvloop) and on asyncio's own."""
    return uvloop.run if request.param == "uvloop" else asyncio.run


class ScriptedServer:
    """Answers every GET with a 200, `Content-Length: length`, then `body` sent by `send`."""

    def __init__(self, body: bytes, length: int | None = None, send=None) -> None:
        self.body, self.length = body, len(body) if length is None else length
        self.send = send or self._all_at_once
        self.server: asyncio.base_events.Server | None = None

    async def _all_at_once(self, writer: asyncio.StreamWriter, body: bytes) -> None:
        writer.write(body)
        await writer.drain()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Content-Length: %d\r\n\r\n" % self.length)
            await self.send(writer, self.body)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()


def _digest(data: bytes) -> Digest:
    return Digest.from_hex(hashlib.sha256(data).hexdigest())


async def _fetch(url: str, digest: Digest, consume_delay: float = 0.0, read_timeout: float = 30.0):
    origin = DistributionOrigin(url, retries=0, read_timeout=read_timeout)
    try:
        opened = await origin.open_blob(REPO, digest)
        pieces = []
        async for chunk in opened.chunks:
            pieces.append(chunk)
            if consume_delay:
                await asyncio.sleep(consume_delay)
        return opened.size, pieces
    finally:
        await origin.close()


@pytest.mark.parametrize("mib", [0, 1, 9])
def test_whole_body_arrives_byte_for_byte_in_readonly_chunks_of_at_most_a_buffer(mib, loop_run):
    data = os.urandom(mib * 1024 * 1024 + 12345)

    async def run():
        async with ScriptedServer(data) as url:
            return await _fetch(url, _digest(data))

    size, pieces = loop_run(run())
    assert size == len(data)
    assert b"".join(pieces) == data
    assert all(len(p) <= bodyread.BUFFER_BYTES for p in pieces[1:])  # the first: what aiohttp had read
    direct = [p for p in pieces if isinstance(p, memoryview)]
    assert all(p.readonly for p in direct)
    if mib >= 9:
        assert direct, "a body this size is read into the module's buffers"


def test_a_trickling_origin_feeds_its_reader_before_a_buffer_is_full(loop_run):
    data = os.urandom(256 * 1024)

    async def trickle(writer, body):
        for start in range(0, len(body), 16 * 1024):
            writer.write(body[start:start + 16 * 1024])
            await writer.drain()
            await asyncio.sleep(0.01)

    async def run():
        async with ScriptedServer(data, send=trickle) as url:
            return await _fetch(url, _digest(data))

    _, pieces = loop_run(run())
    assert b"".join(pieces) == data
    assert len(pieces) > 2   # handed over as it came (FLUSH_S), not held until 1 MiB or the end


def test_a_slow_consumer_pauses_the_origin_and_still_gets_every_byte(monkeypatch, loop_run):
    monkeypatch.setattr(bodyread, "HIGH_WATER", 2 * bodyread.BUFFER_BYTES)
    data = os.urandom(12 * 1024 * 1024)

    async def run():
        async with ScriptedServer(data) as url:
            return await _fetch(url, _digest(data), consume_delay=0.02)

    _, pieces = loop_run(run())
    assert b"".join(pieces) == data


def test_a_body_that_ends_early_is_unavailable_with_what_arrived_and_where_to_resume(loop_run):
    data = os.urandom(3 * 1024 * 1024)

    async def run():
        async with ScriptedServer(data, length=len(data) + 1000) as url:
            return await _fetch(url, _digest(data))

    with pytest.raises(OCIError) as caught:
        loop_run(run())
    assert caught.value.code is errors.UNAVAILABLE
    assert f"resume at {len(data)}" in caught.value.message
    assert caught.value.detail["received"] == len(data)


def test_bytes_past_the_content_length_are_not_part_of_the_body(loop_run):
    """As aiohttp (and HTTP/1.1): the body ends at its Content-Length; a fill's digest check
    is what tells a wrong blob."""
    data = os.urandom(3 * 1024 * 1024)

    async def run():
        async with ScriptedServer(data, length=len(data) - 1000) as url:
            return await _fetch(url, _digest(data))

    size, pieces = loop_run(run())
    assert size == len(data) - 1000
    assert b"".join(pieces) == data[:-1000]


def test_an_origin_that_stalls_mid_body_times_out_as_unavailable(loop_run):
    data = os.urandom(2 * 1024 * 1024)

    async def stall(writer, body):
        writer.write(body[:len(body) // 2])
        await writer.drain()
        await asyncio.sleep(5)

    async def run():
        async with ScriptedServer(data, send=stall) as url:
            return await _fetch(url, _digest(data), read_timeout=0.5)

    with pytest.raises(OCIError) as caught:
        loop_run(run())
    assert caught.value.code is errors.UNAVAILABLE
    assert caught.value.detail["received"] <= len(data) // 2
