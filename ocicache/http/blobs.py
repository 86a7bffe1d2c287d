"""Blob handlers: HEAD/GET (with single Range) and DELETE (spec end-2, end-10)."""
from __future__ import annotations

from aiohttp import web

from .. import errors
from .body import send_file, send_stream
from .params import byte_range, readable_digest
from .state import registry_of, settings_of

IMMUTABLE = "public, max-age=31536000, immutable"


async def get_blob(request: web.Request, name: str, digest_text: str) -> web.StreamResponse:
    registry = registry_of(request)
    digest = readable_digest(digest_text, name, errors.BLOB_UNKNOWN)
    blob = await registry.blob(name, digest, reading=request.method == "GET")  # a GET: no HEAD on a miss
    span = byte_range(request.headers.get("Range"), blob.size)
    offset, count = span if span is not None else (0, blob.size)
    resp = web.StreamResponse(status=206 if span is not None else 200)
    resp.content_length = count
    resp.content_type = "application/octet-stream"
    resp.headers.update({"Docker-Content-Digest": str(digest), "Accept-Ranges": "bytes",
                         "ETag": f'"{digest}"', "Cache-Control": IMMUTABLE})
    if span is not None:
        resp.headers["Content-Range"] = f"bytes {offset}-{offset + count - 1}/{blob.size}"
    if blob.path is not None:
        try:
            return await send_file(request, resp, blob.path, offset, count, settings_of(request).server.sendfile)
        except FileNotFoundError:
            pass  # evicted between the lookup and the open: fetched again like any miss
    return await send_stream(request, resp, registry.read_blob(name, digest, offset, count))


async def delete_blob(request: web.Request, name: str, digest_text: str) -> web.StreamResponse:
    digest = readable_digest(digest_text, name, errors.BLOB_UNKNOWN)
    await registry_of(request).delete_blob(name, digest)
    return web.Response(status=202, headers={"Docker-Content-Digest": str(digest)})
