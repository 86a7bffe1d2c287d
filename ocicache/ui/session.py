"""Who is signed in to the UI: a cookie holding a signed session.

    Set-Cookie: ocicache_ui=<value>; HttpOnly; Max-Age=<ttl>; Path=/ui; SameSite=Strict[; Secure]

On a node that issues tokens (`[auth] token_key` with a private key) the value is the same
JWT the token service issues (auth/tokens.py), for the user and with no access at all: as a
bearer token on the API it grants nothing, and every node holding the key (a fleet behind one
name) accepts it. Otherwise it is `<base64url JSON {"sub", "exp"}>.<base64url HMAC-SHA256>`
under a random key kept in `<data_dir>/auth/ui-session.key` (mode 0600, made on the first
sign-in; shared by the node's workers). Either way a session lasts the token TTL
(`[auth] token_ttl`) or SESSION_S, and is renewed when half of it is spent, so an idle
browser is signed out after that long. A user no longer in the htpasswd file has no session.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import time
from http.cookies import SimpleCookie
from pathlib import Path

from aiohttp import web

from ..auth.guard import request_key
from ..auth.middleware import Authenticator
from ..auth.tokenservice import TokenError

COOKIE = "ocicache_ui"
SESSION_S = 3600
"""How long an HMAC session lasts (a JWT session lasts `[auth] token_ttl`)."""
RENEW = request_key("ui_renew", tuple)
"""request[RENEW]: (cookie value, max age) to send with the response (a renewed session)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    def __init__(self, key_path: Path) -> None:
        self.key_path = Path(key_path)
        self._key: bytes | None = None

    def _secret(self) -> bytes:
        """The HMAC key: read, or made once (atomically: a worker racing another reads the winner's)."""
        if self._key is None:
            try:
                self._key = self.key_path.read_bytes()
            except FileNotFoundError:
                self.key_path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.key_path.with_name(f".{self.key_path.name}.{os.getpid()}.{secrets.token_hex(4)}")
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(secrets.token_bytes(32))
                    fh.flush()
                    os.fsync(fh.fileno())
                try:
                    os.link(tmp, self.key_path)
                except FileExistsError:
                    pass
                finally:
                    tmp.unlink()
                self._key = self.key_path.read_bytes()
        return self._key

    def issue(self, gate: Authenticator, user: str) -> tuple[str, int]:
        """(cookie value, seconds it lasts) for a user who just signed in."""
        if gate.tokens is not None and gate.tokens.can_issue:
            token, ttl, _issued = gate.tokens.issue(user, [])
            return token, ttl
        payload = _b64(json.dumps({"sub": user, "exp": int(time.time()) + SESSION_S}).encode())
        return f"{payload}.{self._mac(payload)}", SESSION_S

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._secret(), payload.encode(), hashlib.sha256).digest())

    def verify(self, gate: Authenticator, value: str) -> tuple[str, float, int] | None:
        """(user, expiry epoch, lifetime in seconds) of a valid session; None otherwise."""
        user, expires, lifetime = None, 0.0, SESSION_S
        if value.count(".") == 2 and gate.tokens is not None:
            try:
                claims = gate.tokens.verify(value)
            except TokenError:
                return None
            user, expires, lifetime = claims.subject, claims.expires, gate.tokens.ttl
        elif value.count(".") == 1 and not (gate.tokens is not None and gate.tokens.can_issue):
            payload, _, mac = value.partition(".")
            if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
                return None
            try:
                body = json.loads(_unb64(payload))
            except (ValueError, binascii.Error, UnicodeDecodeError):
                return None
            if not isinstance(body, dict) or not isinstance(body.get("sub"), str) or \
                    not isinstance(body.get("exp"), int):
                return None
            user, expires = body["sub"], float(body["exp"])
        if not user or expires <= time.time():
            return None
        if gate.htpasswd is not None and user not in gate.htpasswd.users:
            return None
        return user, expires, lifetime


def cookie_header(request: web.Request, value: str, max_age: int) -> str:
    """The Set-Cookie value `set_cookie` makes (for a response whose headers are being sent)."""
    jar: SimpleCookie = SimpleCookie()
    jar[COOKIE] = value
    morsel = jar[COOKIE]
    morsel.update({"max-age": str(max_age), "path": "/ui", "httponly": True, "samesite": "Strict"})
    if request.secure:
        morsel["secure"] = True
    return morsel.OutputString()


def set_cookie(request: web.Request, resp: web.StreamResponse, value: str, max_age: int) -> None:
    resp.set_cookie(COOKIE, value, max_age=max_age, path="/ui", httponly=True, samesite="Strict",
                    secure=request.secure or None)


def clear_cookie(request: web.Request, resp: web.StreamResponse) -> None:
    resp.set_cookie(COOKIE, "", max_age=0, path="/ui", httponly=True, samesite="Strict",
                    secure=request.secure or None)
