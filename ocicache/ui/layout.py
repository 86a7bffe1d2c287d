"""The page shell every UI page is drawn in, and the error page.

No inline script or style (the CSP forbids both): the look is /ui/static/ui.css, the one
behaviour (copy buttons) /ui/static/ui.js.
"""
from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

from aiohttp import web

from .html import Markup, html, join
from . import paths

HTML_TYPE = "text/html"


@dataclass(frozen=True)
class Viewer:
    """Who is looking and what the node has: `user` None is anonymous (or auth is off)."""

    user: str | None
    auth_on: bool
    has_cache: bool


def _nav(viewer: Viewer | None) -> Markup:
    if viewer is None:  # the login page: nothing but the form
        return Markup("")
    links = [html('<a href="{u}">Repositories</a>', u=paths.ROOT)]
    if viewer.has_cache:
        links.append(html('<a href="{u}">Cache</a>', u=paths.CACHE))
    who = Markup("")
    if viewer.auth_on and viewer.user is not None:
        who = html('<span class="who">signed in as <b>{user}</b> · <a href="{u}">sign out</a></span>',
                   user=viewer.user, u=paths.LOGOUT)
    return html("<nav>{links}</nav>{who}", links=join(links, " "), who=who)


def crumbs(*parts: tuple[str, str | None]) -> Markup:
    """A breadcrumb trail of (text, link or None)."""
    items = [html('<a href="{u}">{t}</a>', u=u, t=t) if u else html("<span>{t}</span>", t=t) for t, u in parts]
    return html('<p class="crumbs">{items}</p>', items=join(items, " / "))


def document(title: str, body: Markup, viewer: Viewer | None, heading: Markup | None = None) -> Markup:
    return html(
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>{title} · ocicache</title><link rel="stylesheet" href="/ui/static/ui.css">'
        '<script src="/ui/static/ui.js" defer></script></head>\n'
        '<body><header><a class="brand" href="/ui/">ocicache</a>{nav}</header>\n'
        '<main>{heading}{body}</main></body></html>\n',
        title=title, nav=_nav(viewer), heading=heading if heading is not None else html("<h1>{t}</h1>", t=title),
        body=body)


def page(title: str, body: Markup, viewer: Viewer | None, status: int = 200, heading: Markup | None = None,
         headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=document(title, body, viewer, heading), content_type=HTML_TYPE,
                        charset="utf-8", headers=headers)


def error_page(status: int, message: str, viewer: Viewer | None, headers: dict[str, str] | None = None) -> web.Response:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    body = html('<p class="error">{m}</p><p><a href="{u}">Repositories</a></p>', m=message, u=paths.ROOT)
    return page(f"{status} {phrase}", body, viewer, status=status, headers=headers)
