"""Signing in and out. The password is checked by the gate's `login`, the code behind the API's
Basic authentication: the same failed-login budget per client IP and per user (shared by the
workers, counted before bcrypt) and the same bounded bcrypt slots.

The form's POST is the UI's only write. It is refused unless the browser says it comes from a
page of this host (`_same_origin`): a page elsewhere cannot sign a browser in to an account of
its choosing; the session cookie is SameSite=Strict, so no cross-site request carries it.
"""
from __future__ import annotations

import asyncio
import logging
from urllib.parse import quote, urlsplit

from aiohttp import web

from .. import errors
from ..auth.guard import GATE
from ..errors import OCIError
from .html import Markup, html
from .layout import Viewer, page
from .session import clear_cookie, set_cookie
from .viewer import SESSIONS
from . import paths

log = logging.getLogger("ocicache.auth")
MAX_FORM_BYTES = 16384
FORM_SECONDS = 30.0
LOGIN_REFUSED = errors.ErrorCode("DENIED", "request refused", 403)


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a UI path of this node, never another site."""
    if value and value.startswith(paths.ROOT) and "//" not in value and "\\" not in value \
            and all(" " < c <= "~" for c in value):
        return value
    return paths.ROOT


def _form(next_path: str, message: str | None, can_sign_in: bool, user: str = "") -> Markup:
    if not can_sign_in:
        return html('<p class="error">This node checks tokens issued elsewhere and has no htpasswd file: '
                    'sign in where its tokens are issued, or set <code>[auth] htpasswd</code>.</p>')
    error = html('<p class="error" role="alert">{m}</p>', m=message) if message else Markup("")
    return html('{error}<form class="login" method="post" action="{action}">'
                '<input type="hidden" name="next" value="{next}">'
                '<label>User <input name="username" autocomplete="username" required value="{user}" autofocus></label>'
                '<label>Password <input name="password" type="password" autocomplete="current-password" required>'
                '</label><button type="submit">Sign in</button></form>',
                error=error, action=paths.LOGIN, next=next_path, user=user)


def login_page(request: web.Request, message: str | None = None, status: int = 200, user: str = "",
               next_path: str | None = None) -> web.Response:
    gate = request.app[GATE]
    can = getattr(gate, "htpasswd", None) is not None
    next_path = next_path or safe_next(request.query.get("next"))
    return page("Sign in", _form(next_path, message, can, user), None, status=status)


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def redirect_to_login(request: web.Request) -> web.Response:
    """An anonymous viewer on a node with auth on: to the form, and back here after it."""
    wanted = safe_next(request.path_qs)
    return see_other(paths.LOGIN if wanted == paths.ROOT else f"{paths.LOGIN}?next={quote(wanted, safe='/')}")


def _same_origin(request: web.Request) -> bool:
    """Whether the form was sent from a page of this site. The Origin header says so, or, where
    a browser sends `Origin: null` (what it does for a form POST from a page whose
    Referrer-Policy is no-referrer, as every UI page's is), its fetch metadata does
    (`Sec-Fetch-Site: same-origin`; no page can set either header)."""
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        return urlsplit(origin).netloc.lower() == (request.host or "").lower()
    return origin == "null" and request.headers.get("Sec-Fetch-Site") == "same-origin"


async def _read_form(request: web.Request):
    if (request.content_length or 0) > MAX_FORM_BYTES:
        raise OCIError(errors.SIZE_INVALID, "the sign-in form is too large", status=413)
    try:
        async with asyncio.timeout(FORM_SECONDS):
            return await request.post()
    except TimeoutError:
        raise OCIError(errors.ErrorCode("INVALID_REQUEST", "request body too slow", 408),
                       f"the sign-in form did not arrive within {FORM_SECONDS:g} s", headers={"Connection": "close"}) \
            from None


async def sign_in(request: web.Request) -> web.StreamResponse:
    gate = request.app[GATE]
    if not _same_origin(request):
        raise OCIError(LOGIN_REFUSED, "sign-in refused: the form was not sent from this site's own sign-in page "
                       "(its Origin header is missing or names another site); open /ui/login and sign in there")
    form = await _read_form(request)
    user = form.get("username") if isinstance(form.get("username"), str) else ""
    password = form.get("password") if isinstance(form.get("password"), str) else ""
    next_path = safe_next(form.get("next") if isinstance(form.get("next"), str) else None)
    if getattr(gate, "htpasswd", None) is None:
        return login_page(request, status=403)
    if not user or await gate.login(request, user, password) is None:  # 429 past the failed-login budget
        return login_page(request, "Incorrect user name or password.", status=401, user=user[:100],
                          next_path=next_path)
    value, max_age = request.app[SESSIONS].issue(gate, user)
    resp = see_other(next_path)
    set_cookie(request, resp, value, max_age)
    log.info("signed in to the UI: %s", "".join(c if " " <= c <= "~" else "?" for c in user[:100]))
    return resp


async def sign_out(request: web.Request, viewer: Viewer) -> web.StreamResponse:
    resp = see_other(paths.LOGIN if viewer.auth_on else paths.ROOT)
    clear_cookie(request, resp)
    return resp
