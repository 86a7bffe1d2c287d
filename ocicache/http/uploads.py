"""Upload handlers (spec end-4a/4b, end-5, end-6, end-11, end-13 and "Mounting a blob")."""
from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from .. import errors
from ..errors import OCIError
from ..reference import Digest, check_name
from ..registry.uploads import UploadSession
from ..auth.guard import may
from . import intake
from .params import content_length, content_range, digest_param
from .state import registry_of


def _session_headers(session: UploadSession) -> dict[str, str]:
    return {"Location": f"/v2/{session.repo}/blobs/uploads/{session.id}",
            "Range": session.range_header(), "Docker-Upload-UUID": session.id.partition("?")[0],
            "Cache-Control": "no-store"}


def _session_ref(request: web.Request, upload_id: str) -> str:
    """The session an upload URL names: its id, plus the query an origin put in its Location
    (CNCF distribution's `_state`, carried by an edge that forwards the session), without the
    parameters this node reads itself (`digest`, `ns`)."""
    kept = [(k, v) for k, v in request.query.items() if k not in ("digest", "ns")]
    return upload_id + ("?" + urlencode(kept) if kept else "")


def _created(name: str, digest: Digest) -> web.Response:
    return web.Response(status=201, headers={"Location": f"/v2/{name}/blobs/{digest}",
                                             "Docker-Content-Digest": str(digest)})


def _mount_args(request: web.Request) -> tuple[Digest, str] | None:
    """?mount=<digest>&from=<repo>, or None when absent or invalid (spec, "Mounting a blob":
    a mount that fails on invalid repository or digest arguments falls back to an upload)."""
    mount, source = request.query.get("mount"), request.query.get("from")
    if mount is None or source is None:
        return None
    try:
        mount_args = Digest.parse(mount), check_name(source)
    except OCIError:
        return None
    return mount_args if may(request, source, "pull") else None


async def start_upload(request: web.Request, name: str) -> web.StreamResponse:
    registry = registry_of(request)
    mount = _mount_args(request)
    if mount is not None and await registry.mount_blob(name, *mount):
        return _created(name, mount[0])
    # spec: a registry that cannot mount falls back to opening an upload session
    digest = digest_param(request, required=False)
    intake.check_blob_size(request, content_length(request) or 0)
    session = await registry.start_upload(name, digest)
    if digest is None and not request.body_exists:
        return web.Response(status=202, headers=_session_headers(session))
    try:
        if digest is None:  # body without ?digest=: kept as the first chunk
            await registry.append_upload(session, intake.body(request), None)
            return web.Response(status=202, headers=_session_headers(session))
        await registry.finish_upload_with(session, intake.body(request), None, None, digest)
    except BaseException:
        await registry.cancel_upload(session)
        raise
    return _created(name, digest)


def _chunk(request: web.Request, session: UploadSession) -> tuple[int | None, int | None]:
    """(start, length) of the chunk a request carries: its Content-Range, checked against its
    Content-Length and the node's size limit before a byte is read."""
    span = content_range(request.headers.get("Content-Range"))
    length = content_length(request)
    if span is not None and length is not None and length != span[1] - span[0] + 1:
        raise OCIError(errors.BLOB_UPLOAD_INVALID, f"Content-Range {span[0]}-{span[1]} is "
                       f"{span[1] - span[0] + 1} bytes but Content-Length is {length}")
    expected = None if span is None else span[1] - span[0] + 1
    intake.check_blob_size(request, session.offset + (expected or length or 0))
    return (None if span is None else span[0]), expected


async def _append_chunk(request: web.Request, session: UploadSession) -> None:
    start, expected = _chunk(request, session)
    await registry_of(request).append_upload(session, intake.body(request, session.offset), start, expected)


async def patch_upload(request: web.Request, name: str, upload_id: str) -> web.StreamResponse:
    async with registry_of(request).upload_for_write(name, _session_ref(request, upload_id)) as session:
        await _append_chunk(request, session)
    return web.Response(status=202, headers=_session_headers(session))


async def put_upload(request: web.Request, name: str, upload_id: str) -> web.StreamResponse:
    registry = registry_of(request)
    digest = digest_param(request, required=True)
    async with registry.upload_for_write(name, _session_ref(request, upload_id)) as session:
        if request.body_exists:
            start, expected = _chunk(request, session)
            await registry.finish_upload_with(session, intake.body(request, session.offset), start, expected,
                                              digest)
        else:
            await registry.finish_upload(session, digest)
    return _created(name, digest)


async def upload_status(request: web.Request, name: str, upload_id: str) -> web.StreamResponse:
    async with registry_of(request).upload(name, _session_ref(request, upload_id)) as session:
        return web.Response(status=204, headers=_session_headers(session))


async def cancel_upload(request: web.Request, name: str, upload_id: str) -> web.StreamResponse:
    registry = registry_of(request)
    async with registry.upload(name, _session_ref(request, upload_id)) as session:
        await registry.cancel_upload(session)
    return web.Response(status=204)
