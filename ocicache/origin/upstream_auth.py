"""The client side of registry authentication, for upstreams and for a registry origin (an
edge's `--origin http(s)://...` with `[origin]` credentials): Docker's token flow and Basic.

`UpstreamAuth.send(session, method, url, headers)` (used by `DistributionOrigin._send`):
- attaches what already works for the request's scope: a cached bearer token until it
  expires, or Basic credentials once the upstream has asked for them;
- on 401 with `WWW-Authenticate: Bearer realm="...",service="...",scope="..."` asks the realm
  for a token (anonymously, or with the configured credentials as Basic; Docker's "Token
  Authentication Specification"), caches it per scope for `expires_in` seconds (default 60),
  and resends once;
- on 401 with `Basic` resends once with the configured credentials.
A write asks for the scope a registry needs for it (`scope_of`: `pull,push` for POST, PUT and
PATCH and for everything under `/blobs/uploads/`, `delete` for DELETE), so the status GET the
edge sends before each PATCH of a forwarded upload fetches the push token that PATCH needs: a
streamed body cannot be sent twice, so a 401 to it is not resent but reported.
Tokens are sent only to the upstream's own URLs: aiohttp drops `Authorization` when a redirect
leaves the host (blob storage), so a signed storage URL never sees them.
Credentials go only to a trusted token service (`realm_refusal`): one on the upstream's own
scheme, host and port, one listed for it in `[upstreams] token_realms`, or a well-known pair
(`WELL_KNOWN_REALMS`: Docker Hub's auth.docker.io, GitLab's gitlab.com); never over plain http
to another host. Without credentials any https realm may be asked (nothing secret is sent).
A realm refused is a 502 naming it and the setting; token requests carrying credentials do
not follow redirects. Failures of the token service become OCIError naming the upstream and the realm.
Errors name the settings of whoever built the client (`Settings`): `[upstreams] ...` for a
mirror, `[origin] ...` for an edge's origin. Credentials are never logged.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import aiohttp
import yarl

from .. import errors
from ..errors import OCIError

DEFAULT_TOKEN_TTL = 60.0  # the token spec's default when `expires_in` is absent
_PARAM_RE = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
_SCOPE_RE = re.compile(r"/v2/(?P<repo>.+?)/(?:blobs|manifests|tags|referrers)(?:/|$)")
_TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)
log = logging.getLogger("ocicache.upstream")

# Registries whose token service is on another origin (upstream API host -> realm origins).
WELL_KNOWN_REALMS: dict[str, tuple[str, ...]] = {
    "registry-1.docker.io": ("https://auth.docker.io",),
    "index.docker.io": ("https://auth.docker.io",),
    "registry.gitlab.com": ("https://gitlab.com",),
}


def origin_of(url: yarl.URL) -> str:
    """scheme://host:port with the port always spelled out (https://a and https://a:443 agree)."""
    return f"{url.scheme.lower()}://{(url.host or '').lower()}:{url.port}"


def realm_refusal(upstream: yarl.URL, realm: str, trusted: Iterable[str] = (),
                  with_credentials: bool = True) -> str | None:
    """Why the token service `realm` may not be asked for a token of `upstream`; None if it may."""
    try:
        url = yarl.URL(realm)
    except ValueError:
        url = yarl.URL()
    if url.scheme not in ("http", "https") or not url.host:
        return "is not an http(s) URL"
    if origin_of(url) == origin_of(upstream):
        return None
    if url.scheme == "http" and url.host.lower() != (upstream.host or "").lower():
        return "is plain http on another host than the upstream's: a token service there is never trusted"
    listed = {origin_of(yarl.URL(t)) for t in (*trusted, *WELL_KNOWN_REALMS.get((upstream.host or "").lower(), ()))}
    if origin_of(url) in listed or not with_credentials:
        return None
    return "is not on the upstream's own scheme, host and port, and not listed as its token service"


def scope_of(path: str, method: str = "GET") -> str:
    """The token scope a request needs: `repository:<name>:pull` for reads, `...:pull,push` for
    writes and every request of an upload session, `...:delete` for DELETE (as CNCF distribution
    asks), or the catalog's."""
    match = _SCOPE_RE.match(path)
    if not match:
        return "registry:catalog:*" if path.rstrip("/").endswith("/_catalog") else ""
    if method == "DELETE":
        actions = "delete"
    elif method not in ("GET", "HEAD") or "/blobs/uploads/" in path:
        actions = "pull,push"
    else:
        actions = "pull"
    return f"repository:{match.group('repo')}:{actions}"


@dataclass(frozen=True)
class Settings:
    """Where an operator fixes what a refusal is about, in the words of the config."""
    credentials: str = "[upstreams] credentials for this upstream"
    realms: str = '[upstreams] token_realms = {{"{name}" = ["{origin}"]}}'
    """How to list a token service; `{name}` and `{origin}` are filled in."""


ORIGIN_SETTINGS = Settings("[origin] username and password (or password_file)",
                           '[origin] token_realms = ["{origin}"]')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """(scheme in lower case, parameters) of a WWW-Authenticate header (RFC 9110 11.6.1)."""
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), {k.lower(): v for k, v in _PARAM_RE.findall(rest)}


class UpstreamAuth:
    def __init__(self, label: str, credentials: tuple[str, str] | None = None,
                 clock: Callable[[], float] = time.monotonic, *, name: str = "", upstream_url: str = "",
                 trusted_realms: Iterable[str] = (), settings: Settings = Settings()) -> None:
        self.label = label  # "upstream docker.io (https://registry-1.docker.io)"
        self.settings = settings
        self.credentials = credentials
        self.name = name
        self.upstream = yarl.URL(upstream_url) if upstream_url else None
        self.trusted_realms = tuple(trusted_realms)
        self._warned: set[str] = set()
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
                   headers: dict[str, str] | None, data: Any = None, **kwargs: Any) -> aiohttp.ClientResponse:
        """The response to the request, authenticated as the upstream asks (one retry; none
        for a streamed `data`, which cannot be sent again: its 401 comes back)."""
        scope = scope_of(url.path, method)
        sent = dict(headers or {})
        known = self._known(scope)
        if known is not None:
            sent["Authorization"] = known
        resp = await session.request(method, url, headers=sent, data=data, **kwargs)
        if resp.status != 401 or not (data is None or isinstance(data, bytes)):
            return resp
        challenge = resp.headers.get("WWW-Authenticate", "")
        self._tokens.pop(scope, None)
        try:
            answer = await self._answer(session, challenge, scope)
        except BaseException:
            resp.release()  # a refused realm or a failed token service: the 401's connection goes back
            raise
        if answer is None or answer == known:
            return resp  # nothing better to offer: the caller sees the 401
        resp.release()
        sent["Authorization"] = answer
        return await session.request(method, url, headers=sent, data=data, **kwargs)

    async def _answer(self, session: aiohttp.ClientSession, challenge: str, scope: str) -> str | None:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            self._basic = self.credentials is not None
            return self._basic_value()
        if scheme != "bearer" or not params.get("realm"):
            return None
        self._check_realm(params["realm"])
        lock = self._locks.setdefault(scope, asyncio.Lock())
        async with lock:  # one token request per scope, however many requests met the 401
            entry = self._tokens.get(scope)
            if entry is not None and entry[1] > self._clock():
                return entry[0]
            token, ttl = await self._fetch_token(session, params, scope)
            value = f"Bearer {token}"
            self._tokens[scope] = (value, self._clock() + max(1.0, ttl * 0.9))
            return value

    def _check_realm(self, realm: str) -> None:
        if self.upstream is None:
            return
        why = realm_refusal(self.upstream, realm, self.trusted_realms, self.credentials is not None)
        if why is None:
            return
        shown = realm[:300]
        url = yarl.URL(shown) if why != "is not an http(s) URL" else None
        origin = f"{url.scheme}://{url.authority}" if url is not None else shown
        listing = self.settings.realms.format(name=self.name, origin=origin)
        message = (f"{self.label} sent clients to the token service {shown}, which {why}; the node did not "
                   f"ask it (nor send it the credentials configured). If it is its real token "
                   f"service, list it: {listing}")
        if origin not in self._warned:
            self._warned.add(origin)
            log.warning("%s", message)
        raise OCIError(errors.UNAVAILABLE, message, status=502, detail={"realm": shown})

    async def _fetch_token(self, session: aiohttp.ClientSession, params: dict[str, str],
                           scope: str) -> tuple[str, float]:
        realm = params["realm"]
        wanted = [s for s in dict.fromkeys((params.get("scope"), scope)) if s]  # what it said, and what we need
        query = {k: v for k, v in (("service", params.get("service")), ("scope", wanted)) if v}
        headers = {}
        basic = self._basic_value()
        if basic is not None:
            headers["Authorization"] = basic
        try:
            async with session.get(yarl.URL(realm).update_query(query), headers=headers,
                                   allow_redirects=basic is None) as resp:
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
                        f"check {self.settings.credentials}")

    def _token_failed(self, realm: str, what: str) -> OCIError:
        return OCIError(errors.UNAVAILABLE, f"{self.label}: token service {realm} {what}; try again later")

    def denied(self, path: str, status: int, method: str = "GET") -> OCIError:
        """The error for a 401/403 the upstream still gives after authenticating."""
        scope = scope_of(path, method)
        repo = scope.split(":")[1] if scope.startswith("repository:") else path
        how = f"as user {self.credentials[0]}" if self.credentials else "anonymously"
        if status == 401:
            why = "refused the credentials configured" if self.credentials else "needs credentials"
            why += " (or the repository does not exist there)"
        else:
            why = f"does not let that user {scope.rpartition(':')[2].replace(',', ' and ') or 'read'} there"
        return OCIError(errors.DENIED, f"{self.label} denied {method} on repository {repo} {how} ({status}): "
                        f"it {why}; check {self.settings.credentials}", detail={"name": repo})
