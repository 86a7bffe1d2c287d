"""Listings: tags (end-8a/8b), catalog, referrers (end-12a/12b)."""
from __future__ import annotations

import json

from aiohttp import web

from ..auth.guard import visible
from ..reference import Digest, UnsupportedDigest
from ..oci.manifests import OCI_INDEX
from .params import page, paginate
from .state import registry_of, settings_of


def _listing(body: dict, link: str | None) -> web.Response:
    resp = web.json_response(body)
    if link:
        resp.headers["Link"] = link
    return resp


async def list_tags(request: web.Request, name: str) -> web.StreamResponse:
    n, last = page(request, settings_of(request).limits.max_page)
    tags, link = paginate(await registry_of(request).tags(name), n, last, f"/v2/{name}/tags/list")
    return _listing({"name": name, "tags": tags}, link)


async def catalog(request: web.Request) -> web.StreamResponse:
    n, last = page(request, settings_of(request).limits.max_page)
    repos, link = paginate(visible(request, await registry_of(request).repositories()), n, last, "/v2/_catalog")
    return _listing({"repositories": repos}, link)


async def referrers(request: web.Request, name: str, digest_text: str) -> web.StreamResponse:
    try:
        subject: Digest | None = Digest.parse(digest_text)
    except UnsupportedDigest:  # names nothing stored here: no referrers, as for an unknown subject
        subject = None
    artifact_type = request.query.get("artifactType") or None
    found = [] if subject is None else await registry_of(request).referrers(name, subject, artifact_type)
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [d.as_json() for d in found]}
    # spec end-12: Content-Type is exactly the index media type (no charset parameter)
    resp = web.Response(body=json.dumps(body).encode(), content_type=OCI_INDEX)
    if artifact_type:
        resp.headers["OCI-Filters-Applied"] = "artifactType"
    return resp
