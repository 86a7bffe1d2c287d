"""The client side of registry authentication, for upstreams: Docker's token flow and Basic.

`UpstreamAuth.send(session, method, url, headers)` (used by `RegistryOrigin._send`):
- attaches what already works for the request's scope: a cached bearer token until it
  expires, or Basic credentials once the upstream has asked for them;
- on 401 with `WWW-Authenticate: Bearer realm="...",service="...",scope="..."` asks the realm
  for a token (anonymously, or with the configured credentials as Basic; Docker's "Token
  Authentication Specification"), caches it per scope for `expires_in` seconds (default 60),
  and resends once;
- on 401 with `Basic` resends once with the configured credentials.
Tokens are sent only to the upstream's own URLs: aiohttp drops `Authorization` when a redirect
leaves the host (blob storage), so a signed storage URL never sees them.
Failures of the token service become OCIError naming the upstream and the realm.
"""
from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from typing import Callable

import aiohttp
import yarl

from .. import errors
from ..errors import OCIError

DEFAULT_TOKEN_TTL = 60.0  # the token spec's default when `expires_in` is absent
_PARAM_RE = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
_SCOPE_RE = re.compile(r"/v2/(?P<repo>.+?)/(?:blobs|manifests|tags|referrers)(?:/|$)")
_TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


def scope_of(path: str) -> str:
    """The token scope a request path needs: `repository:<name>:pull` (or the catalog's)."""
    match = _SCOPE_RE.match(path)
    if match:
        return f"repository:{match.group('repo')}:pull"
    return "registry:catalog:*" if path.rstrip("/").endswith("/_catalog") else ""


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """(scheme in lower case, parameters) of a WWW-Authenticate header (RFC 9110 11.6.1)."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), {k.lower(): v for k, v in _PARAM_RE.findall(rest)}


class UpstreamAuth:
    def __init__(self, label: str, credentials: tuple[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label  # "upstream docker.io (https://registry-1.docker.io)"
        self.credentials = credentials
        self._clock = clock
        self._tokens: dict[str, tuple[str, float]] = {}  # scope -> (Authorization value, expiry)
        self._locks: dict[str, asyncio.Lock] = {}
        self._basic = False  # the upstream asked for Basic: send it pre-emptively

    def _basic_value(self) -> str | None:
        if self.credentials is None:
            return None
        user, password = self.credentials
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()

    def _known(self, scope: str) -> str | None:
        if self._basic:
            return self._basic_value()
        entry = self._tokens.get(scope)
        if entry is not None and entry[1] > self._clock():
            return entry[0]
        return None

    async def send(self, session: aiohttp.ClientSession, method: str, url: yarl.URL,
                   headers: dict[str, str] | None) -> aiohttp.ClientResponse:
        """The response to the request, authenticated as the upstream asks (one retry)."""
        scope = scope_of(url.path)
        sent = dict(headers or {})
        known = self._known(scope)
        if known is not None:
            sent["Authorization"] = known
        resp = await session.request(method, url, headers=sent)
        if resp.status != 401:
            return resp
        challenge = resp.headers.get("WWW-Authenticate", "")
        self._tokens.pop(scope, None)
        answer = await self._answer(session, challenge, scope)
        if answer is None or answer == known:
            return resp  # nothing better to offer: the caller sees the 401
        resp.release()
        sent["Authorization"] = answer
        return await session.request(method, url, headers=sent)

    async def _answer(self, session: aiohttp.ClientSession, challenge: str, scope: str) -> str | None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            self._basic = self.credentials is not None
            return self._basic_value()
        if scheme != "bearer" or not params.get("realm"):
            return None
        lock = self._locks.setdefault(scope, asyncio.Lock())
        async with lock:  # one token request per scope, however many requests met the 401
            entry = self._tokens.get(scope)
            if entry is not None and entry[1] > self._clock():
                return entry[0]
            token, ttl = await self._fetch_token(session, params, scope)
            value = f"Bearer {token}"
            self._tokens[scope] = (value, self._clock() + max(1.0, ttl * 0.9))
            return value

    async def _fetch_token(self, session: aiohttp.ClientSession, params: dict[str, str],
                           scope: str) -> tuple[str, float]:
        realm = params["realm"]
        query = {k: v for k, v in (("service", params.get("service")),
                                   ("scope", params.get("scope") or scope)) if v}
        headers = {}
        basic = self._basic_value()
        if basic is not None:
            headers["Authorization"] = basic
        try:
            async with session.get(yarl.URL(realm).update_query(query), headers=headers) as resp:
                if resp.status in (401, 403):
                    raise self._refused(realm, resp.status)
                if resp.status != 200:
                    raise self._token_failed(realm, f"answered {resp.status} {resp.reason}")
                body = json.loads(await resp.content.read(64 * 1024))
        except _TRANSPORT_ERRORS as exc:
            raise self._token_failed(realm, f"failed: {type(exc).__name__}: {exc}") from None
        except (ValueError, UnicodeDecodeError):
            raise self._token_failed(realm, "returned a body that is not JSON") from None
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise self._token_failed(realm, "returned no token")
        ttl = body.get("expires_in")
        return token, float(ttl) if isinstance(ttl, (int, float)) and ttl > 0 else DEFAULT_TOKEN_TTL

    def _refused(self, realm: str, status: int) -> OCIError:
        who = "the credentials configured" if self.credentials else "anonymous access"
        return OCIError(errors.DENIED, f"{self.label}: token service {realm} refused {who} ({status}); "
                        "check [upstreams] credentials for this upstream")

    def _token_failed(self, realm: str, what: str) -> OCIError:
        return OCIError(errors.UNAVAILABLE, f"{self.label}: token service {realm} {what}; try again later")

    def denied(self, path: str, status: int) -> OCIError:
        """The error for a 401/403 the upstream still gives after authenticating."""
        scope = scope_of(path)
        repo = scope.split(":")[1] if scope.startswith("repository:") else path
        how = "with the credentials configured" if self.credentials else "anonymously"
        return OCIError(errors.DENIED, f"{self.label} denied access to repository {repo} {how} ({status}): "
                        "it may not exist, or it needs credentials ([upstreams] credentials)",
                        detail={"name": repo})
