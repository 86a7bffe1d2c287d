"""Sending blob bodies: zero-copy sendfile where the transport allows, streamed otherwise.

uvloop does not implement `loop.sendfile`, so aiohttp's FileResponse would copy through
Python. Here the small-blob path costs about one sendfile(2) per response: the blob's file
comes from this worker's open-file cache (`openfiles.py`: no open/close per request), the
response headers that aiohttp holds back until the first body write are taken and sent with
MSG_MORE just before the file's bytes (`rangecopy.send_head_and_file`), so headers and body
leave together in full segments, and the loop is asked to wait for writability only when the
socket buffer is full. uvloop refuses `add_writer` on a transport's own descriptor but accepts
it on a dup() of it, made only then. TLS transports take the streamed path.
"""
from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import AsyncIterator

from aiohttp import web

from ..hotpaths import rangecopy
from .openfiles import OpenFiles

STREAM_CHUNK = 1024 * 1024
OPEN_FILES = OpenFiles()
"""This worker's kept blob descriptors (each worker process has its own)."""
log = logging.getLogger("ocicache.http")


async def _wait_writable(loop: asyncio.AbstractEventLoop, sock_fd: int, dup_fd: int | None) -> int:
    """Wait until the socket takes bytes again; returns the dup used for it (kept for the next wait)."""
    out = os.dup(sock_fd) if dup_fd is None else dup_fd
    fut = loop.create_future()
    loop.add_writer(out, lambda: fut.done() or fut.set_result(None))
    try:
        await fut
    finally:
        loop.remove_writer(out)
    return out


def _failed(exc: OSError) -> ConnectionResetError:
    return ConnectionResetError(f"client connection failed during sendfile: {exc}")


async def sendfile_range(loop: asyncio.AbstractEventLoop, sock_fd: int, file_fd: int,
                         offset: int, count: int, head: bytes = b"") -> None:
    """Send `head`, then [offset, offset+count) of `file_fd`, to the socket; ConnectionError if
    it goes away (or the file ends early)."""
    waiter: int | None = None
    try:
        while head:
            try:
                sent = rangecopy.send_head_and_file(sock_fd, head, file_fd, offset, count)
            except BlockingIOError:
                waiter = await _wait_writable(loop, sock_fd, waiter)
                continue
            except OSError as exc:
                raise _failed(exc) from None
            body, head = max(0, sent - len(head)), head[sent:]
            offset, count = offset + body, count - body
        while count > 0:
            try:
                sent = rangecopy.sendfile(sock_fd, file_fd, offset, count)
            except BlockingIOError:
                waiter = await _wait_writable(loop, sock_fd, waiter)
                continue
            except OSError as exc:
                raise _failed(exc) from None
            if sent == 0:
                raise ConnectionAbortedError("blob file ended early; closing the connection rather "
                                             "than sending a short body")
            offset += sent
            count -= sent
    finally:
        if waiter is not None:
            os.close(waiter)


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


class FileResponse(web.StreamResponse):
    """A blob response whose status line and headers wait in aiohttp's writer after `prepare`
    (as aiohttp's own `web.Response` does) instead of being written at once, so `send_file`
    can send them with the body's first bytes."""

    _send_headers_immediately = False


def _take_head(writer, transport: asyncio.Transport) -> bytes | None:
    """The serialized status line and headers that aiohttp (3.11 and later) holds back until the
    first body write, taken here to leave with the body; None when they cannot be: an aiohttp
    that already wrote them, or earlier bytes still waiting in the transport, which must go first."""
    head = getattr(writer, "_headers_buf", None)
    if not head or getattr(writer, "_headers_written", True) or transport.get_write_buffer_size():
        return None
    writer._headers_buf = None
    writer._headers_written = True
    return bytes(head)


async def _headers_flushed(request: web.Request, writer) -> None:
    """Headers through the transport, and out of its buffer, before sendfile writes the body."""
    writer.send_headers()
    await writer.drain()
    while request.transport is not None and request.transport.get_write_buffer_size():
        await asyncio.sleep(0.0005)


async def _stream_file(resp: web.StreamResponse, fd: int, offset: int, count: int) -> None:
    end = offset + count
    while offset < end:
        chunk = os.pread(fd, min(STREAM_CHUNK, end - offset), offset)
        if not chunk:
            raise ConnectionAbortedError("blob file ended early; closing the connection")
        await resp.write(chunk)
        offset += len(chunk)


async def send_file(request: web.Request, resp: web.StreamResponse, path: Path,
                    offset: int, count: int, use_sendfile: bool) -> web.StreamResponse:
    """Prepare `resp` (headers already set) and send that range of the file as its body.
    FileNotFoundError (before anything is sent) if the file is gone."""
    kept = OPEN_FILES.acquire(str(path))
    try:
        writer = await resp.prepare(request)
        if request.method == "HEAD" or count == 0:
            await resp.write_eof()
            return resp
        sock_fd = _plain_socket_fd(request) if use_sendfile else None
        if sock_fd is not None:
            head = _take_head(writer, request.transport)
            if head is None:
                await _headers_flushed(request, writer)
            await sendfile_range(asyncio.get_running_loop(), sock_fd, kept.fd, offset, count, head or b"")
        else:
            await _stream_file(resp, kept.fd, offset, count)
    except ConnectionError as exc:
        return _cut(request, resp, exc)
    finally:
        OPEN_FILES.release(kept)
    await resp.write_eof()
    return resp


async def send_stream(request: web.Request, resp: web.StreamResponse,
                      chunks: AsyncIterator[bytes]) -> web.StreamResponse:
    """Prepare `resp` and send an async stream of chunks as its body. A stream that fails once
    `resp` is prepared (a fill whose origin broke off) cannot become an error answer any more:
    the failure is logged and the connection closed, so the client sees a short body and retries."""
    try:
        await resp.prepare(request)
        if request.method != "HEAD":
            async for chunk in chunks:
                await resp.write(chunk)
    except ConnectionError as exc:
        return _cut(request, resp, exc)
    except Exception as exc:
        if not resp.prepared:
            raise
        log.warning("%s %s failed after its headers (%s); closing the connection, the client "
                    "retries", request.method, request.path[:200], getattr(exc, "message", None) or exc)
        return _cut(request, resp, ConnectionAbortedError(str(exc)))
    finally:
        # A client that went away leaves the stream half-read: close it now (a fill's reader
        # holds the blob's descriptor), not whenever the garbage collector gets to it.
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
    await resp.write_eof()
    return resp
