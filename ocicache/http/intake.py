"""Reading request bodies with the node's limits: bytes in total and seconds between reads.

A sender that goes quiet for `body_timeout` seconds is cut off (slow-sender attacks hold
a connection and a session open for as long as they are let); a body that would take an
upload past `max_blob_bytes` is refused before those bytes are written.
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


async def body(request: web.Request, already: int = 0, *, blob: bool = True) -> AsyncIterator[bytes]:
    """The request body in the pieces it arrives in; `already` bytes of the blob are stored."""
    limits = settings_of(request).limits
    cap = limits.max_blob_bytes if blob else 0
    total = already
    while True:
        try:
            async with asyncio.timeout(limits.body_timeout):
                chunk = await request.content.readany()
        except TimeoutError:
            raise OCIError(errors.BLOB_UPLOAD_INVALID if blob else errors.MANIFEST_INVALID,
                           f"no request body bytes for {limits.body_timeout:g} s; the request was dropped",
                           status=408) from None
        if not chunk:
            return
        total += len(chunk)
        if cap and total > cap:
            raise too_big("the blob", cap)
        yield chunk
