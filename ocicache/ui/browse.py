"""The repositories page and a repository's tags page: one page of the origin's own listing
each (`n`, `last`, as the catalog and tag list APIs), never a read of every manifest."""
from __future__ import annotations

from aiohttp import web

from .. import errors
from ..auth.guard import may, visible
from ..auth.scope import PULL
from ..errors import OCIError
from ..http.params import page as page_params
from ..http.state import REGISTRY, settings_of
from .html import Markup, html, join
from .layout import Viewer, crumbs, page
from . import paths

PAGE = 50
SCAN_BATCHES = 20
"""Catalog pages read at most for one UI page when the ACL hides most names (then a next link)."""


def _paging(request: web.Request) -> tuple[int, str | None]:
    n, last = page_params(request, settings_of(request).limits.max_page)
    return (n or PAGE), last


def repository_unknown(name: str) -> OCIError:
    """One answer for a repository that does not exist and one the viewer may not pull."""
    return OCIError(errors.NAME_UNKNOWN, f"repository {name} is not known to this registry",
                    detail={"name": name})


async def visible_page(request: web.Request, n: int, last: str | None) -> tuple[list[str], str | None]:
    """Up to `n` repositories the viewer may pull after `last`, and where the next page starts
    (None: no more). Reads the origin's catalog in pages, at most SCAN_BATCHES of them."""
    registry = request.app[REGISTRY]
    shown: list[str] = []
    cursor = last
    for _ in range(SCAN_BATCHES):
        want = n + 1 - len(shown)
        batch = await registry.repositories(want, cursor)
        shown += visible(request, batch)
        if len(shown) > n:
            return shown[:n], shown[n - 1]
        if len(batch) < want:
            return shown, None
        cursor = batch[-1]
    return shown, cursor  # the ACL hid the rest of what was read: the next page goes on from there


def _next_link(path: str, n: int, after: str | None) -> Markup:
    if after is None:
        return Markup("")
    return html('<p class="more"><a rel="next" href="{u}">next page</a></p>', u=paths.page_url(path, n, after))


async def repositories(request: web.Request, viewer: Viewer) -> web.Response:
    n, last = _paging(request)
    names, after = await visible_page(request, n, last)
    rows = [html('<li><a href="{u}">{name}</a></li>', u=paths.repo_url(name), name=name) for name in names]
    if rows:
        listing = html('<ul class="repos">{rows}</ul>', rows=join(rows))
    elif after is not None:  # SCAN_BATCHES catalog pages held none the viewer may pull
        listing = html('<p class="empty">None you may pull in this part of the catalog; the next page reads on.</p>')
    else:
        listing = html('<p class="empty">{t}</p>', t="No more repositories." if last else
                       "No repositories you may pull." if viewer.auth_on else "No repositories yet.")
    start = html('<p class="more"><a href="{u}">first page</a></p>', u=paths.ROOT) if last else Markup("")
    return page("Repositories", listing + _next_link(paths.ROOT, n, after) + start, viewer)


async def tags(request: web.Request, viewer: Viewer, name: str) -> web.Response:
    if not may(request, name, PULL):
        raise repository_unknown(name)
    n, last = _paging(request)
    try:
        found = await request.app[REGISTRY].tags(name, n + 1, last)
    except OCIError as exc:
        if exc.code is errors.NAME_UNKNOWN:
            raise repository_unknown(name) from None
        raise
    more = len(found) > n
    found = found[:n]
    rows = [html('<li><a href="{u}">{tag}</a></li>', u=paths.manifest_url(name, tag), tag=tag) for tag in found]
    listing = html('<ul class="tags">{rows}</ul>', rows=join(rows)) if rows else \
        html('<p class="empty">{t}</p>', t="No more tags." if last else "This repository has no tags.")
    here = paths.repo_url(name)
    body = listing + _next_link(here, n, found[-1] if more and found else None)
    heading = crumbs(("Repositories", paths.ROOT), (name, None)) + \
        html('<h1><span class="kind">repository</span> {n}</h1>', n=name)
    return page(name, body, viewer, heading=heading)
