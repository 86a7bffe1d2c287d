"""Every route of the OCI Distribution API on one screen.

Repository names contain slashes, so `/v2/...` paths are matched here, in the
spec's order, rather than by aiohttp's router; the name is checked against the
spec's grammar before any handler runs (which also rejects '..' and other
path-traversal attempts).
"""
from __future__ import annotations

import re

from aiohttp import web

from .. import errors
from ..errors import OCIError
from ..auth.guard import authorize, authorize_catalog
from ..auth.scope import DELETE, PULL, PUSH
from ..reference import check_name
from . import blobs, listing, manifests, uploads
from .mirror_choice import choose

NAME = r"(?P<name>.+?)"
ROUTES: list[tuple[re.Pattern[str], dict[str, object]]] = [
    (re.compile(rf"/v2/{NAME}/blobs/uploads/?"), {"POST": uploads.start_upload}),
    (re.compile(rf"/v2/{NAME}/blobs/uploads/(?P<upload_id>[^/]+)"),
     {"GET": uploads.upload_status, "PATCH": uploads.patch_upload, "PUT": uploads.put_upload,
      "DELETE": uploads.cancel_upload}),
    (re.compile(rf"/v2/{NAME}/blobs/(?P<digest>[^/]+)"),
     {"GET": blobs.get_blob, "HEAD": blobs.get_blob, "DELETE": blobs.delete_blob}),
    (re.compile(rf"/v2/{NAME}/manifests/(?P<reference>[^/]+)"),
     {"GET": manifests.get_manifest, "HEAD": manifests.get_manifest, "PUT": manifests.put_manifest,
      "DELETE": manifests.delete_manifest}),
    (re.compile(rf"/v2/{NAME}/tags/list"), {"GET": listing.list_tags}),
    (re.compile(rf"/v2/{NAME}/referrers/(?P<digest>[^/]+)"), {"GET": listing.referrers}),
]


# The access each handler needs (docs/SECURITY.md): reads pull, writes and upload sessions
# push, removals delete. Checked by `authorize` once the repository name is known.
# A handler missing here needs the strongest right (tests/auth checks that none is missing).
ACCESS = {blobs.get_blob: PULL, manifests.get_manifest: PULL, listing.list_tags: PULL, listing.referrers: PULL,
          uploads.start_upload: PUSH, uploads.upload_status: PUSH, uploads.patch_upload: PUSH,
          uploads.put_upload: PUSH, uploads.cancel_upload: PUSH, manifests.put_manifest: PUSH,
          blobs.delete_blob: DELETE, manifests.delete_manifest: DELETE}


async def base(request: web.Request) -> web.StreamResponse:
    """end-1: the API version check."""
    return web.json_response({})


async def dispatch(request: web.Request) -> web.StreamResponse:
    path = request.path
    if path in ("/v2", "/v2/"):
        if request.method not in ("GET", "HEAD"):
            raise OCIError(errors.METHOD_NOT_ALLOWED, f"{request.method} is not allowed on /v2/")
        return await base(request)
    if path == "/v2/_catalog":
        if request.method != "GET":
            raise OCIError(errors.METHOD_NOT_ALLOWED, f"{request.method} is not allowed on /v2/_catalog")
        authorize_catalog(request)
        return await listing.catalog(request)
    for pattern, methods in ROUTES:
        match = pattern.fullmatch(path)
        if match is None:
            continue
        handler = methods.get(request.method)
        if handler is None:
            raise OCIError(errors.METHOD_NOT_ALLOWED, f"{request.method} is not allowed on {path[:200]}",
                           headers={"Allow": ", ".join(methods)})
        params = match.groupdict()
        name, access = check_name(params.pop("name")), ACCESS.get(handler, DELETE)
        authorize(request, name, access)
        # the upstream (?ns=, Host alias, path prefix) or the own origin: docs/MIRRORS.md
        return await handler(request, choose(request, name, access), *params.values())
    raise OCIError(errors.NOT_FOUND, f"no OCI distribution route matches {path[:200]!r}")


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", "/v2", dispatch)
    app.router.add_route("*", "/v2/{tail:.*}", dispatch)
