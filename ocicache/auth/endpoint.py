"""The token service: `GET /token` (Docker's token spec) and `POST /token` (its OAuth2 form).

    GET /token?service=ocicache&scope=repository:a/b:pull,push[&scope=...]
    Authorization: Basic <user:password>          (absent: an anonymous token)
    -> 200 {"token": jwt, "access_token": jwt, "expires_in": 300, "issued_at": "...Z"}

The token grants the subset of the asked scopes that the ACL allows the caller (possibly
none: asking is never an error); wrong credentials get 401. `registry:catalog:*` is granted
to anyone the ACL names at all. POST takes `grant_type=password` with username, password,
service, scope (space-separated) and client_id in a form body.
"""
from __future__ import annotations

import asyncio

from aiohttp import web

from .. import errors
from ..errors import OCIError
from .guard import GATE, Principal
from .middleware import Authenticator, parse_basic
from .scope import Access, format_scope, parse_scopes

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
MAX_FORM_BYTES = 16384


def _gate(request: web.Request) -> Authenticator:
    gate = request.app[GATE]
    assert isinstance(gate, Authenticator)
    if gate.tokens is None or not gate.tokens.can_issue:
        raise OCIError(errors.UNSUPPORTED, "this node does not issue tokens (it holds no private token key); "
                       "ask the token service named in the realm of the challenge", status=404)
    return gate


async def _login(gate: Authenticator, request: web.Request, user: str | None, password: str | None) -> str | None:
    """The authenticated user name, None for anonymous; 401 for wrong credentials."""
    if user is None:
        return None
    if await gate.login(request, user, password or "") is None:
        raise OCIError(errors.UNAUTHORIZED, "incorrect username or password",
                       headers={"WWW-Authenticate": f'Basic realm="{gate.service}"', **NO_STORE})
    return user


def _check_service(gate: Authenticator, service: str | None) -> None:
    if service and service != gate.service:
        raise OCIError(errors.DENIED, f"this token service issues tokens for service {gate.service!r}, "
                       f"not {service[:100]!r}", status=400)


def _grant(gate: Authenticator, user: str | None, asked: list[Access]) -> list[Access]:
    caller = Principal(user, None)
    return [access for access in asked if gate.allows(caller, access)]


async def get_token(request: web.Request) -> web.StreamResponse:
    gate = _gate(request)
    _check_service(gate, request.query.get("service"))
    header = request.headers.get("Authorization", "")
    user = password = None
    if header:
        creds = parse_basic(header) if header[:6].lower() == "basic " else None
        user, password = creds if creds is not None else ("", None)
    user = await _login(gate, request, user, password)
    granted = _grant(gate, user, parse_scopes(request.query.getall("scope", [])))
    token, expires_in, issued_at = gate.tokens.issue(user, granted)
    return web.json_response({"token": token, "access_token": token, "expires_in": expires_in,
                              "issued_at": issued_at}, headers=NO_STORE)


async def post_token(request: web.Request) -> web.StreamResponse:
    gate = _gate(request)
    if (request.content_length or 0) > MAX_FORM_BYTES:
        raise OCIError(errors.SIZE_INVALID, "token request form is too large", status=413)
    form = await _read_form(gate, request)
    _check_service(gate, _field(form, "service"))
    if _field(form, "grant_type") != "password":
        return web.json_response({"error": "unsupported_grant_type",
                                  "error_description": "only grant_type=password is supported"},
                                 status=400, headers=NO_STORE)
    user = await _login(gate, request, _field(form, "username") or "", _field(form, "password") or "")
    granted = _grant(gate, user, parse_scopes([_field(form, "scope") or ""]))
    token, expires_in, issued_at = gate.tokens.issue(user, granted)
    return web.json_response({"access_token": token, "token_type": "Bearer", "expires_in": expires_in,
                              "issued_at": issued_at, "scope": " ".join(format_scope(a) for a in granted)},
                             headers=NO_STORE)


async def _read_form(gate: Authenticator, request: web.Request):
    """The form, within the body deadline ([limits] body_min_rate, body_grace, body_timeout)."""
    try:
        async with asyncio.timeout(gate.form_seconds):
            return await request.post()
    except TimeoutError:
        request.protocol.close()  # type: ignore[union-attr]  # read no more of it, then close
        request.content.feed_eof()
        raise OCIError(errors.ErrorCode("INVALID_REQUEST", "request body too slow", 408),
                       f"the token request form did not arrive within {gate.form_seconds:.0f} s; the "
                       "connection was closed", headers={"Connection": "close", **NO_STORE}) from None


def _field(form, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def add_token_routes(app: web.Application) -> None:
    app.router.add_get("/token", get_token, allow_head=False)
    app.router.add_post("/token", post_token)
