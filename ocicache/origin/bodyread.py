"""A blob GET's body read by the event loop straight into buffers of this module, not through
aiohttp's parser (origin/distribution.py, for the one GET of a fill).

aiohttp hands a body over as a bytes object per socket read (uvloop's copy, then the parser's),
joins them for `iter_chunked` (a third copy), and re-arms its read timer on every read: on a
busy machine, where each read brings a few KiB, the Python work per read outgrew the copying.
Once the response's headers are parsed, `direct_chunks` takes the connection's transport for a
`BufferedProtocol` that the loop reads into 1 MiB buffers (no copy), and yields a buffer when it
is full, when the body is complete, or when bytes have waited `FLUSH_S` (a slow origin still
feeds its readers as bytes come). Each chunk is a read-only memoryview over a buffer that is
never written again, so it may be kept (a fill's window) and sent as it is.

Only a plain-TCP response with a Content-Length and no content coding is taken over (anything
else is read through aiohttp as before), and the connection is closed afterwards, never
returned to the pool. Its end is told to aiohttp's protocol, which the connector still owns.
"""
from __future__ import annotations

import asyncio
from collections import deque
from typing import AsyncIterator

import aiohttp

BUFFER_BYTES = 1024 * 1024
HIGH_WATER = 2 * BUFFER_BYTES   # received and not yet taken by the consumer: stop reading
FLUSH_S = 0.002


def can_take(resp: aiohttp.ClientResponse) -> bool:
    """Whether `resp`'s body can be read by `direct_chunks`."""
    conn = resp.connection
    transport = None if conn is None else conn.transport
    return (transport is not None and conn.protocol is not None and not transport.is_closing()
            and transport.get_extra_info("sslcontext") is None and hasattr(transport, "set_protocol")
            and resp.content_length is not None and "Transfer-Encoding" not in resp.headers
            and resp.headers.get("Content-Encoding", "identity") == "identity")


async def direct_chunks(resp: aiohttp.ClientResponse, read_timeout: float | None) -> AsyncIterator[memoryview | bytes]:
    """`resp`'s body, of which nothing was read yet (`can_take` said yes); ConnectionError if it ends early,
    asyncio.TimeoutError if no byte came for `read_timeout` seconds."""
    conn = resp.connection
    aiohttp_protocol, transport = conn.protocol, conn.transport
    # What aiohttp has read already. Taking it may resume its reading and feed it more at once
    # (read_nowait), so take until there is none; no socket read happens before set_protocol.
    pieces = []
    while piece := resp.content.read_nowait():
        pieces.append(piece)
    buffered = b"".join(pieces)
    remaining = resp.content_length - len(buffered)
    reader = None
    if remaining > 0 and not resp.content.at_eof():
        aiohttp_protocol.pause_reading()   # and its read timer stopped: this module times reads now
        reader = _Direct(asyncio.get_running_loop(), transport, aiohttp_protocol, remaining)
        transport.set_protocol(reader)
        transport.resume_reading()
    if buffered:
        yield buffered
    if reader is None:
        return
    while True:
        chunk = await reader.next(read_timeout)
        if chunk is None:
            return
        yield chunk


class _Direct(asyncio.BufferedProtocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, transport: asyncio.Transport,
                 previous: asyncio.BaseProtocol, remaining: int) -> None:
        self._loop, self._transport, self._previous = loop, transport, previous
        self._unfilled = remaining        # body bytes no buffer has been given for yet
        self._missing = remaining         # body bytes not yet received
        self._buf = memoryview(b"")
        self._filled = self._handed = 0   # in _buf: received up to, handed to `_ready` up to
        self._ready: deque[memoryview] = deque()
        self._ready_bytes = 0
        self._paused = False
        self._flush: asyncio.TimerHandle | None = None
        self._waiter: asyncio.Future | None = None
        self._end: BaseException | None = None  # ConnectionError when the body ended early
        self._lost = False

    # ---- the loop's side ----
    def get_buffer(self, sizehint: int) -> memoryview:
        if self._missing == 0:
            return memoryview(bytearray(4096))  # past the body: not part of it, dropped
        if self._filled == len(self._buf):
            size = min(BUFFER_BYTES, self._unfilled)
            self._buf, self._filled, self._handed = memoryview(bytearray(size)), 0, 0
            self._unfilled -= size
        return self._buf[self._filled:]

    def buffer_updated(self, nbytes: int) -> None:
        if self._missing == 0:
            return  # bytes after the body (as aiohttp, HTTP/1.1 ends it at its Content-Length)
        self._filled += nbytes
        self._missing -= nbytes
        if self._missing == 0:
            if not self._lost:
                self._transport.pause_reading()  # whole: nothing more is read before the close
            self._hand()
        elif self._filled == len(self._buf):
            self._hand()
        elif self._flush is None:
            self._flush = self._loop.call_later(FLUSH_S, self._hand)

    def eof_received(self) -> bool:
        if self._missing > 0:
            self._finish(ConnectionError(f"the body ended early, {self._missing} bytes short"))
        return False

    def connection_lost(self, exc: BaseException | None) -> None:
        self._lost = True
        if self._missing > 0:
            self._finish(ConnectionError(f"the connection was lost {self._missing} bytes before the body's end"
                                         + (f" ({exc})" if exc else "")))
        self._previous.connection_lost(exc)  # the connector's protocol learns its connection ended

    def _hand(self) -> None:
        """Bytes received since the last hand-over go to the consumer."""
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        if self._filled > self._handed:
            self._ready.append(self._buf[self._handed:self._filled].toreadonly())
            self._ready_bytes += self._filled - self._handed
            self._handed = self._filled
            if self._ready_bytes >= HIGH_WATER and not self._paused and not self._lost:
                self._paused = True
                self._transport.pause_reading()
        self._wake()

    def _finish(self, exc: BaseException) -> None:
        """The body cannot complete: the consumer gets what arrived, then `exc`."""
        if self._end is None:
            self._end = exc
        self._hand()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # ---- the consumer's side ----
    async def next(self, read_timeout: float | None) -> memoryview | None:
        """The next chunk; None once the body is whole."""
        while not self._ready:
            if self._end is not None:
                raise self._end
            if self._missing == 0 and self._filled == self._handed:
                return None
            self._waiter = self._loop.create_future()
            try:
                if read_timeout:
                    await asyncio.wait_for(self._waiter, read_timeout)
                else:
                    await self._waiter
            finally:
                self._waiter = None
        chunk = self._ready.popleft()
        self._ready_bytes -= len(chunk)
        if self._paused and self._ready_bytes < HIGH_WATER // 2 and not self._lost:
            self._paused = False
            self._transport.resume_reading()
        return chunk
