"""Manifest handlers (spec end-3, end-7, end-9)."""
from __future__ import annotations

from aiohttp import web

from .. import errors
from ..errors import OCIError
from ..reference import Digest, parse_reference
from ..oci import manifests
from .blobs import IMMUTABLE
from . import intake
from .params import content_length, readable_reference
from .state import registry_of


async def get_manifest(request: web.Request, name: str, reference_text: str) -> web.StreamResponse:
    reference = readable_reference(reference_text, name)
    info = await registry_of(request).manifest(name, reference)
    accept = ",".join(request.headers.getall("Accept", []))
    if not isinstance(reference, Digest) and not manifests.accepts(accept, info.media_type):
        raise OCIError(errors.MANIFEST_UNKNOWN, f"{name}:{reference} is a {info.media_type}, which the "
                       "client did not list in its Accept header", detail={"mediaType": info.media_type})
    headers = {"Docker-Content-Digest": str(info.digest), "ETag": f'"{info.digest}"',
               "Content-Type": info.media_type}
    if isinstance(reference, Digest):
        headers["Cache-Control"] = IMMUTABLE
    # For HEAD, aiohttp sends the body's Content-Length but not the body (spec: "Existing Manifests").
    return web.Response(status=200, body=info.data, headers=headers)


async def put_manifest(request: web.Request, name: str, reference_text: str) -> web.StreamResponse:
    registry = registry_of(request)
    reference = parse_reference(reference_text)
    length = content_length(request)
    limit = registry.max_manifest_bytes
    if length is not None and length > limit:
        raise registry.manifest_too_big(name, length)
    data = bytearray()
    async for chunk in intake.body(request, blob=False):
        data += chunk
        if len(data) > limit:
            raise registry.manifest_too_big(name, len(data))
    info = await registry.put_manifest(name, reference, bytes(data), request.headers.get("Content-Type"))
    headers = {"Location": f"/v2/{name}/manifests/{info.digest}", "Docker-Content-Digest": str(info.digest)}
    if info.subject is not None:
        headers["OCI-Subject"] = str(info.subject)
    return web.Response(status=201, headers=headers)


async def delete_manifest(request: web.Request, name: str, reference_text: str) -> web.StreamResponse:
    await registry_of(request).delete_manifest(name, readable_reference(reference_text, name))
    return web.Response(status=202)
