"""Who is looking at a UI page, found once per request from the session cookie.

With auth off there is no principal and every page is open, as the API is. With auth on, the
signed-in user becomes the request's `Principal` (user, no token), so the ACL answers for the
UI exactly as for that user's Basic-authenticated API calls (`auth.guard.may`, `visible`).
"""
from __future__ import annotations

import time

from aiohttp import web

from ..auth.guard import GATE, PRINCIPAL, Principal
from ..http.state import REGISTRY
from .layout import Viewer
from .session import COOKIE, RENEW, Sessions

SESSIONS = web.AppKey("ui_sessions", Sessions)


def viewer_of(request: web.Request) -> Viewer:
    has_cache = request.app[REGISTRY].origin.cache() is not None
    gate = request.app.get(GATE)
    if gate is None:
        return Viewer(None, False, has_cache)
    value = request.cookies.get(COOKIE)
    sessions = request.app[SESSIONS]
    found = sessions.verify(gate, value) if value else None
    if found is None:
        return Viewer(None, True, has_cache)
    user, expires, lifetime = found
    principal = Principal(user, None)
    gate.limit_identity(principal)  # the per-user rate limit of the API
    request[PRINCIPAL] = principal
    if expires - time.time() < lifetime / 2:
        request[RENEW] = sessions.issue(gate, user)
    return Viewer(user, True, has_cache)
