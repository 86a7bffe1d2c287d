"""Who is calling: Basic credentials, a bearer token, or nobody; and the challenge when that
is not enough (Docker's token authentication spec, "How to authenticate").

    401 Unauthorized
    WWW-Authenticate: Bearer realm="https://node/token",service="ocicache",scope="repository:a/b:pull"

Basic credentials are accepted on registry routes as well (the htpasswd flow of CNCF
distribution); the challenge is Bearer whenever this node knows a token key, else Basic.
A caller with no credentials who needs them gets 401; an authenticated caller without
the right gets 403 DENIED; a bearer token that lacks a scope its user could have gets 401
with `error="insufficient_scope"` so the client fetches a wider token.
"""
from __future__ import annotations

import base64
import binascii
import logging
import re
from typing import Callable

from aiohttp import web

from .. import errors
from ..errors import OCIError
from .acl import Acl
from .guard import GATE, PRINCIPAL, Gate, Principal
from .htpasswd import Htpasswd
from .login import Logins
from .ratelimit import TokenBuckets, client_ip, too_many
from .scope import PULL, PUSH, Access, format_scope
from .tokenservice import TokenError, open_service

log = logging.getLogger("ocicache.auth")
_HOST_RE = re.compile(r"[A-Za-z0-9.\-]+(?::\d{1,5})?|\[[0-9A-Fa-f:.]+\](?::\d{1,5})?")


def parse_basic(header: str) -> tuple[str, str] | None:
    """(user, password) of `Basic <base64>`; None when malformed."""
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep and user else None


class Authenticator(Gate):
    def __init__(self, cfg, trusted: tuple = ()) -> None:
        auth = cfg.auth
        self.htpasswd = Htpasswd(auth.htpasswd) if auth.htpasswd else None
        self.tokens = (open_service(auth.token_key, auth.verify_keys, issuer=auth.issuer,
                                    service=auth.service, ttl=auth.token_ttl) if auth.token_key else None)
        self.acl = Acl(auth.acl, auth.groups)
        self.realm, self.service = auth.realm, auth.service
        self.trusted = trusted
        limits = cfg.ratelimit
        self.logins = Logins(self.htpasswd, cfg)  # failed-login budget and bounded bcrypt: login.py
        body = cfg.limits  # a POST /token form (at most 16 KiB) gets the body deadline of other bodies
        self.form_seconds = min(body.body_timeout, body.body_grace + 16384 / body.body_min_rate) \
            if body.body_min_rate else body.body_timeout
        self.per_identity = (TokenBuckets(limits.per_identity_rate, limits.per_identity_burst)
                             if cfg.ratelimit_enabled else None)

    def prepare_reload(self, cfg) -> Callable[[], None]:
        """Build the users, keys and ACL of a new config (raising as __init__ does if one is
        unusable); the returned swap applies them, and the per-identity rate limit, in place.
        The failed-login budget and check slots stay as they are (restart-only)."""
        auth = cfg.auth
        htpasswd = Htpasswd(auth.htpasswd) if auth.htpasswd else None
        tokens = (open_service(auth.token_key, auth.verify_keys, issuer=auth.issuer,
                               service=auth.service, ttl=auth.token_ttl) if auth.token_key else None)
        acl = Acl(auth.acl, auth.groups)
        limits = cfg.ratelimit

        def swap() -> None:
            self.htpasswd, self.tokens, self.acl = htpasswd, tokens, acl
            self.realm, self.service = auth.realm, auth.service
            self.logins.htpasswd = htpasswd
            if self.per_identity is not None:
                self.per_identity.rate = float(limits.per_identity_rate)
                self.per_identity.burst = float(limits.per_identity_burst)
        return swap

    # ---- challenges ----
    def realm_for(self, request: web.Request) -> str:
        if self.realm:
            return self.realm
        host = request.host if _HOST_RE.fullmatch(request.host or "") else "localhost"
        return f"{request.scheme}://{host}/token"

    def login_host(self, request: web.Request) -> str:
        return request.host if _HOST_RE.fullmatch(request.host or "") else "<this registry>"

    def challenge(self, request: web.Request, access: Access | None = None, error: str | None = None,
                  description: str | None = None) -> str:
        if self.tokens is None:
            return f'Basic realm="{self.service}"'
        parts = [f'realm="{self.realm_for(request)}"', f'service="{self.service}"']
        if access is not None:
            actions = f"{PULL},{PUSH}" if access.action == PUSH else access.action
            parts.append(f'scope="{access.type}:{access.name}:{actions}"')
        if error:
            parts.append(f'error="{error}"')
        if error and description:  # Docker prints this, not the body, for a 401 with an error
            parts.append('error_description="{}"'.format(description.replace('"', "'").replace("\\", "/")))
        return "Bearer " + ",".join(parts)

    def unauthorized(self, request: web.Request, message: str, access: Access | None = None,
                     error: str | None = None) -> OCIError:
        detail = None if access is None else [{"Type": access.type, "Name": access.name,
                                               "Action": access.action}]
        return OCIError(errors.UNAUTHORIZED, message, detail=detail,
                        headers={"WWW-Authenticate": self.challenge(request, access, error, message)})

    # ---- who ----
    async def identify(self, request: web.Request) -> Principal:
        header = request.headers.get("Authorization", "")
        scheme = header[:7].lower()
        if not header:
            return Principal(None, None)
        if scheme.startswith("bearer ") and self.tokens is not None:
            try:
                claims = self.tokens.verify(header[7:].strip())
            except TokenError as exc:
                raise self.unauthorized(request, f"bearer token refused: {exc}", error="invalid_token") from None
            return Principal(claims.subject, claims.access)
        if scheme.startswith("basic ") and self.htpasswd is not None:
            creds = parse_basic(header)
            user = await self.login(request, *(creds or ("", "")))
            if user is None:
                raise self.unauthorized(request, "incorrect username or password")
            return Principal(user, None)
        raise self.unauthorized(request, "unsupported Authorization scheme; authenticate as the "
                                "WWW-Authenticate challenge says")

    async def login(self, request: web.Request, user: str, password: str) -> str | None:
        """The user when the password is right; None when not. Failed logins are limited per
        client IP and per user name, counted before the check: past the limit even the right
        password waits (429)."""
        return await self.logins.login(client_ip(request, self.trusted), user, password)

    def limit_identity(self, principal: Principal) -> None:
        if self.per_identity is not None and principal.user is not None:
            wait = self.per_identity.take(principal.user)
            if wait:
                raise too_many(f"user {principal.user}", wait)

    # ---- may ----
    def allows(self, principal: Principal, access: Access) -> bool:
        if principal.token is not None:
            return access in principal.token
        if access.type == "registry":
            return self.acl.grants_any(principal.user)
        return self.acl.allows(principal.user, access.name, access.action)

    def check(self, request: web.Request, principal: Principal, access: Access) -> None:
        if self.allows(principal, access):
            return
        if principal.user is None:
            how = f"log in first (docker login {self.login_host(request)}) as a user who may {access.action} it"
            raise self.unauthorized(request, f"authentication required to {access.action} {access.name}; {how}",
                                    access, "insufficient_scope" if principal.token is not None else None)
        if principal.token is not None and self.allows(Principal(principal.user, None), access):
            raise self.unauthorized(request, f"token does not grant {format_scope(access)}; fetch one that does",
                                    access, "insufficient_scope")
        headers = {"WWW-Authenticate": self.challenge(request, access, "insufficient_scope")} \
            if principal.token is not None else {}
        raise OCIError(errors.DENIED, f"user {principal.user} may not {access.action} {access.name}; "
                       f"ask the registry's operator for {access.action} access to it (an [[auth.acl]] rule)",
                       detail=[{"Type": access.type, "Name": access.name, "Action": access.action}],
                       headers=headers)


def is_registry_path(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/")


@web.middleware
async def authenticate(request: web.Request, handler) -> web.StreamResponse:
    """Identify the caller of every registry route; /v2/ itself needs some credentials."""
    if not is_registry_path(request.path):
        return await handler(request)
    gate: Authenticator = request.app[GATE]  # type: ignore[assignment]
    principal = await gate.identify(request)
    if request.path in ("/v2", "/v2/") and principal.user is None and principal.token is None:
        raise gate.unauthorized(request, "authentication required")
    gate.limit_identity(principal)
    request[PRINCIPAL] = principal
    return await handler(request)
