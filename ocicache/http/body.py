"""Sending blob bodies: zero-copy sendfile where the transport allows, streamed otherwise.

uvloop does not implement `loop.sendfile`, so aiohttp's FileResponse would copy through
Python. Here the response headers are flushed through the transport, then the body goes
straight from the file to the socket with sendfile(2) (`ocicache.hotpaths.rangecopy`). uvloop
refuses `add_writer` on a transport's own descriptor but accepts it on a dup() of it,
which is what waiting for writability uses. TLS transports take the streamed path.
"""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import AsyncIterator

from aiohttp import web

from ..hotpaths import rangecopy
from ..hotpaths.fileio import close_soon

STREAM_CHUNK = 1024 * 1024
log = logging.getLogger("ocicache.http")


async def _wait_writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    fut = loop.create_future()
    loop.add_writer(fd, lambda: fut.done() or fut.set_result(None))
    try:
        await fut
    finally:
        loop.remove_writer(fd)


async def sendfile_range(loop: asyncio.AbstractEventLoop, sock_fd: int, file_fd: int,
                         offset: int, count: int) -> None:
    """Send [offset, offset+count) of `file_fd` to the socket; ConnectionError if it goes away."""
    out = os.dup(sock_fd)
    try:
        while count > 0:
            try:
                sent = rangecopy.sendfile(out, file_fd, offset, count)
            except BlockingIOError:
                await _wait_writable(loop, out)
                continue
            except OSError as exc:
                raise ConnectionResetError(f"client connection failed during sendfile: {exc}") from None
            if sent == 0:
                raise ConnectionAbortedError("blob file ended early; closing the connection rather "
                                             "than sending a short body")
            offset += sent
            count -= sent
    finally:
        os.close(out)


def _cut(request: web.Request, resp: web.StreamResponse, exc: ConnectionError) -> web.StreamResponse:
    """The body cannot be sent whole (the client left, or a fill failed and the rest may not be
    trusted): close the connection, so the client sees a short body, and end quietly."""
    log.debug("cut %s %s short: %s", request.method, request.path[:200], exc)
    if request.transport is not None:
        request.transport.close()
    return resp


def _plain_socket_fd(request: web.Request) -> int | None:
    transport = request.transport
    if transport is None or transport.get_extra_info("sslcontext") is not None:
        return None
    sock = transport.get_extra_info("socket")
    return sock.fileno() if sock is not None else None


async def send_file(request: web.Request, resp: web.StreamResponse, path: Path,
                    offset: int, count: int, use_sendfile: bool) -> web.StreamResponse:
    """Prepare `resp` (headers already set) and send that range of the file as its body."""
    fd = os.open(path, os.O_RDONLY)
    try:
        writer = await resp.prepare(request)
        if request.method == "HEAD" or count == 0:
            await resp.write_eof()
            return resp
        sock_fd = _plain_socket_fd(request) if use_sendfile else None
        if sock_fd is not None:
            writer.send_headers()
            await writer.drain()
            while request.transport is not None and request.transport.get_write_buffer_size():
                await asyncio.sleep(0.0005)  # headers must be on the wire before the body
            await sendfile_range(asyncio.get_running_loop(), sock_fd, fd, offset, count)
        else:
            end = offset + count
            while offset < end:
                chunk = os.pread(fd, min(STREAM_CHUNK, end - offset), offset)
                if not chunk:
                    raise ConnectionAbortedError("blob file ended early; closing the connection")
                await resp.write(chunk)
                offset += len(chunk)
    except ConnectionError as exc:
        return _cut(request, resp, exc)
    finally:
        close_soon(fd)
    await resp.write_eof()
    return resp


async def send_stream(request: web.Request, resp: web.StreamResponse,
                      chunks: AsyncIterator[bytes]) -> web.StreamResponse:
    """Prepare `resp` and send an async stream of chunks as its body."""
    try:
        await resp.prepare(request)
        if request.method != "HEAD":
            async for chunk in chunks:
                await resp.write(chunk)
    except ConnectionError as exc:
        return _cut(request, resp, exc)
    finally:
        # A client that went away leaves the stream half-read: close it now (a fill's reader
        # holds the blob's descriptor), not whenever the garbage collector gets to it.
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    await resp.write_eof()
    return resp
