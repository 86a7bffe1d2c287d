"""Reading request bodies with the node's limits: bytes in total, seconds between reads, and a
deadline for the whole body; and no compressed bodies.

A sender that goes quiet for `body_timeout` seconds is cut off (slow-sender attacks hold
a connection and a session open for as long as they are let), and so is one that, after
`body_grace` seconds, averages less than `body_min_rate` bytes/s (a byte every 20 s never goes
quiet for long): a body of N bytes has body_grace + N / body_min_rate seconds in all. Either
way the client gets 408 and the connection is closed (the rest of its body is not read).
A body that would take an upload past `max_blob_bytes` is refused before those bytes are written.
A body with a Content-Encoding other than identity is refused (415) before any of it is read
(`refuse_encoded_bodies`): a registry stores the bytes it is sent, and digests are of those.
"""
from __future__ import annotations

import asyncio
from typing import AsyncIterator

from aiohttp import web

from .. import errors
from ..errors import OCIError
from .state import settings_of


def too_big(what: str, limit: int) -> OCIError:
    return OCIError(errors.SIZE_INVALID, f"{what} would exceed the node's limit of {limit} bytes",
                    detail={"limit": limit}, status=413)


def check_blob_size(request: web.Request, total: int) -> None:
    """413 now when a declared size already passes max_blob_bytes (Content-Length, Content-Range)."""
    limit = settings_of(request).limits.max_blob_bytes
    if limit and total > limit:
        raise too_big("the blob", limit)


def _cut(request: web.Request, blob: bool, message: str) -> OCIError:
    """408 for a body too slow, and close the connection once it is sent: stop reading the
    rest (aiohttp would otherwise linger reading it) and do not keep the connection alive."""
    request.protocol.close()  # type: ignore[union-attr]  # no more bytes read, no keep-alive
    request.content.feed_eof()  # nothing left to wait for before the connection closes
    return OCIError(errors.BLOB_UPLOAD_INVALID if blob else errors.MANIFEST_INVALID, message, status=408,
                    headers={"Connection": "close"})


async def body(request: web.Request, already: int = 0, *, blob: bool = True) -> AsyncIterator[bytes]:
    """The request body in the pieces it arrives in; `already` bytes of the blob are stored."""
    limits = settings_of(request).limits
    cap = limits.max_blob_bytes if blob else 0
    rate, grace = limits.body_min_rate, limits.body_grace
    loop = asyncio.get_running_loop()
    started = loop.time()
    total, received = already, 0
    while True:
        wait = limits.body_timeout
        if rate:  # the average rate after the grace: bytes so far buy received / rate seconds
            wait = min(wait, max(0.0, started + grace + received / rate - loop.time()))
        try:
            async with asyncio.timeout(wait):
                # one piece as it arrived (readany joins what is buffered: a copy of every byte)
                chunk, _ = await request.content.readchunk()
        except TimeoutError:
            if wait < limits.body_timeout:
                raise _cut(request, blob, f"the request body arrived at less than {rate} bytes/s on average "
                           f"({received} bytes in {loop.time() - started:.0f} s); the request was dropped and "
                           "the connection closed ([limits] body_min_rate, body_grace)") from None
            raise _cut(request, blob, f"no request body bytes for {limits.body_timeout:g} s; the request "
                       "was dropped and the connection closed ([limits] body_timeout)") from None
        if not chunk:
            if request.content.at_eof():
                return
            continue  # the end of one chunk of a chunked request body, not of the body
        received += len(chunk)
        total += len(chunk)
        if cap and total > cap:
            raise too_big("the blob", cap)
        yield chunk


@web.middleware
async def refuse_encoded_bodies(request: web.Request, handler) -> web.StreamResponse:
    """415 for a request body with a Content-Encoding (gzip, deflate, br, ...), before it is read."""
    encoding = request.headers.get("Content-Encoding", "")
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    carries_body = request.can_read_body or request.method in ("POST", "PUT", "PATCH")
    if carries_body and any(c != "identity" for c in codings):
        shown = "".join(c if c.isalnum() or c in " ,-" else "?" for c in encoding[:60])
        raise OCIError(errors.UNSUPPORTED, f"request bodies with Content-Encoding {shown} are not accepted: "
                       "a registry stores the bytes it is sent and their digest is of those bytes; send "
                       "the body uncompressed", status=415)
    return await handler(request)
