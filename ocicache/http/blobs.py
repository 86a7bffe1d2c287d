"""Blob handlers: HEAD/GET (with single Range) and DELETE (spec end-2, end-10)."""
from __future__ import annotations

from aiohttp import web

from .. import errors
from ..config import Config
from ..reference import Digest
from ..registry import Registry
from ..registry.registry import BlobInfo
from .bloblinks import BlobAnswers, ServesOwnFiles
from .body import FileResponse, send_file, send_stream
from .params import byte_range, readable_digest
from .state import registry_of, settings_of

IMMUTABLE = "public, max-age=31536000, immutable"
ANSWERS = BlobAnswers()
"""This worker's link and size answers, used when the node serves its own files (bloblinks.py)."""
serves_own_files = ServesOwnFiles()


async def get_blob(request: web.Request, name: str, digest_text: str) -> web.StreamResponse:
    registry = registry_of(request)
    digest = readable_digest(digest_text, name, errors.BLOB_UNKNOWN)
    settings = settings_of(request)
    remembered = serves_own_files(settings)
    if remembered:
        blob = await ANSWERS.blob(registry, name, digest)
    else:
        blob = await registry.blob(name, digest, reading=request.method == "GET")  # a GET: no HEAD on a miss
    span = byte_range(request.headers.get("Range"), blob.size)
    offset, count = span if span is not None else (0, blob.size)
    status = 206 if span is not None else 200
    resp = FileResponse(status=status) if blob.path is not None else web.StreamResponse(status=status)
    resp.content_length = count
    resp.content_type = "application/octet-stream"
    resp.headers.update({"Docker-Content-Digest": str(digest), "Accept-Ranges": "bytes",
                         "ETag": f'"{digest}"', "Cache-Control": IMMUTABLE})
    if span is not None:
        resp.headers["Content-Range"] = f"bytes {offset}-{offset + count - 1}/{blob.size}"
    if blob.path is not None:
        try:
            return await send_file(request, resp, blob.path, offset, count, settings.server.sendfile)
        except FileNotFoundError:
            pass  # evicted between the lookup and the open: fetched again like any miss
        if remembered:  # removed since it was remembered: the origin says now whether it is still here
            ANSWERS.forget(name, digest)
            return await _asked_again(request, resp, registry, settings, name, digest, offset, count)
    return await send_stream(request, resp, registry.read_blob(name, digest, offset, count))


async def _asked_again(request: web.Request, resp: web.StreamResponse, registry: Registry, settings: Config,
                       name: str, digest: Digest, offset: int, count: int) -> web.StreamResponse:
    """The blob's file was gone although its answer was remembered: ask the registry itself
    (a BLOB_UNKNOWN error, before any header is sent, if it no longer holds the blob)."""
    blob: BlobInfo = await registry.blob(name, digest)
    if blob.path is not None:
        try:
            return await send_file(request, resp, blob.path, offset, count, settings.server.sendfile)
        except FileNotFoundError:
            pass
    return await send_stream(request, resp, registry.read_blob(name, digest, offset, count))


async def delete_blob(request: web.Request, name: str, digest_text: str) -> web.StreamResponse:
    digest = readable_digest(digest_text, name, errors.BLOB_UNKNOWN)
    await registry_of(request).delete_blob(name, digest)
    ANSWERS.forget(name, digest)
    return web.Response(status=202, headers={"Docker-Content-Digest": str(digest)})
