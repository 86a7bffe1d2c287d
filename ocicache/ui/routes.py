"""Every UI route on one screen (the URL scheme is in paths.py), the headers of every /ui
response, and errors rendered as pages: bad input gets its status and a sentence, never a
traceback and never the API's JSON."""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from aiohttp import web

from .. import errors
from ..errors import OCIError
from ..reference import check_name
from .browse import repositories, tags
from .cachepage import cache_page
from .layout import Viewer, error_page
from .login import login_page, redirect_to_login, see_other, sign_in, sign_out
from .manifest import manifest_page
from .session import COOKIE, RENEW, cookie_header
from .viewer import viewer_of
from . import paths

log = logging.getLogger("ocicache.http")
CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
PAGE_HEADERS = (("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
                ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY"))
STATIC_TYPES = {".css": "text/css", ".js": "text/javascript"}
STATIC_DIR = Path(__file__).with_name("static")
STATIC = {p.name: (p.read_bytes(), STATIC_TYPES[p.suffix]) for p in sorted(STATIC_DIR.iterdir())
          if p.suffix in STATIC_TYPES}
"""The stylesheet and the script, read once: name -> (bytes, content type)."""


def is_ui(path: str) -> bool:
    return path == "/ui" or path.startswith("/ui/")


def _static(request: web.Request) -> web.Response:
    found = STATIC.get(request.path[len(paths.STATIC):])
    if found is None:
        raise OCIError(errors.NOT_FOUND, "no such file among the UI's static files")
    body, content_type = found
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers={"ETag": etag})
    return web.Response(body=body, content_type=content_type, charset="utf-8",
                        headers={"ETag": etag, "Cache-Control": "max-age=300"})


def _allowed(request: web.Request) -> None:
    allowed = ("GET", "HEAD", "POST") if request.path == paths.LOGIN else ("GET", "HEAD")
    if request.method not in allowed:
        raise OCIError(errors.METHOD_NOT_ALLOWED, f"{request.method} is not allowed here: the UI only reads",
                       headers={"Allow": ", ".join(allowed)})


async def _page(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    path = request.path
    if path == paths.ROOT:
        return await repositories(request, viewer)
    if path == paths.CACHE:
        return await cache_page(request, viewer)
    if path.startswith(paths.REPO):
        target = paths.parse_repo_path(path)
        if target is not None:
            name = check_name(target.name)  # 400 NAME_INVALID for what the OCI grammar refuses
            if target.page == "slash":
                return see_other(paths.repo_url(name))
            if target.page == "tags":
                return await tags(request, viewer, name)
            assert target.reference is not None
            return await manifest_page(request, viewer, name, target.reference)
    raise OCIError(errors.NOT_FOUND, "there is no page at this address; start from the repositories")


async def dispatch(request: web.Request) -> web.StreamResponse:
    viewer: Viewer | None = None
    try:
        _allowed(request)
        if request.path.startswith(paths.STATIC):
            return _static(request)
        if request.path == "/ui":
            return see_other(paths.ROOT)
        viewer = viewer_of(request)
        if request.path == paths.LOGIN:
            if not viewer.auth_on:
                return see_other(paths.ROOT)
            return await sign_in(request) if request.method == "POST" else login_page(request)
        if request.path == paths.LOGOUT:
            return await sign_out(request, viewer)
        if viewer.auth_on and viewer.user is None:
            return redirect_to_login(request)
        return await _page(request, viewer)
    except OCIError as exc:
        return error_page(exc.status, exc.message, viewer, exc.headers)
    except ConnectionError:
        raise
    except Exception:
        log.exception("internal error serving UI page %s %s", request.method, request.path_qs[:300])
        return error_page(500, "internal error in the registry node; the node's log has the details", viewer)


async def ui_headers(request: web.Request, resp: web.StreamResponse) -> None:
    """on_response_prepare: the page headers of every /ui response (errors from outer
    middlewares too), and a renewed session cookie."""
    if not is_ui(request.path):
        return
    for name, value in PAGE_HEADERS:
        resp.headers[name] = value
    if not (request.path.startswith(paths.STATIC) and resp.status in (200, 304)):
        resp.headers["Cache-Control"] = "no-store"
    renew = request.get(RENEW)
    if renew is not None and COOKIE not in resp.cookies:  # signing in or out sets its own
        resp.headers.add("Set-Cookie", cookie_header(request, *renew))  # cookies are headers by now


def add_routes(app: web.Application) -> None:
    app.router.add_route("*", "/ui", dispatch)
    app.router.add_route("*", r"/ui/{tail:[\s\S]*}", dispatch)  # every path under /ui/, newlines too
    app.on_response_prepare.append(ui_headers)
