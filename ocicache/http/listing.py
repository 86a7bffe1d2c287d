"""Listings: tags (end-8a/8b), catalog, referrers (end-12a/12b)."""
from __future__ import annotations

import json
from urllib.parse import quote

from aiohttp import web

from ..auth.guard import visible
from ..reference import Digest, UnsupportedDigest
from ..oci.manifests import OCI_INDEX
from .params import page
from .state import registry_of, settings_of


def _listing(body: dict, link: str | None) -> web.Response:
    resp = web.json_response(body)
    if link:
        resp.headers["Link"] = link
    return resp


async def list_tags(request: web.Request, name: str) -> web.StreamResponse:
    """One page of the origin's tag index: `n` (at most `max_page`) after `last`; every tag when
    `n` is absent, as the spec's tag listing promises."""
    n, last = page(request, settings_of(request).limits.max_page)
    more = await registry_of(request).tags(name, None if n is None else n + 1, last)
    tags, link = _cut(more, n, f"/v2/{name}/tags/list")
    return _listing({"name": name, "tags": tags}, link)


async def catalog(request: web.Request) -> web.StreamResponse:
    """One page of the repositories the caller may pull; without `n`, `max_page` of them and a
    `Link` to the rest (the catalog may be paged unasked, as CNCF distribution documents)."""
    max_page = settings_of(request).limits.max_page
    n, last = page(request, max_page)
    n = max_page if n is None else n
    repos: list[str] = []
    cursor = last
    while len(repos) <= n:  # one more than the page tells whether a next page exists
        want = n + 1 - len(repos)
        batch = await registry_of(request).repositories(want, cursor)
        repos += visible(request, batch)
        if len(batch) < want:
            break
        cursor = batch[-1]
    repos, link = _cut(repos, n, "/v2/_catalog")
    return _listing({"repositories": repos}, link)


def _cut(items: list[str], n: int | None, path: str) -> tuple[list[str], str | None]:
    """The first `n` of `items` (read one past the page), and the RFC 8288 Link to the next page."""
    if n is None or len(items) <= n:
        return items, None
    items = items[:n]
    if not items:
        return items, None
    return items, f'<{path}?n={n}&last={quote(items[-1], safe="")}>; rel="next"'


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
