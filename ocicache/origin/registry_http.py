"""The HTTP side of a registry origin or upstream (DistributionOrigin's transport).

One pooled `aiohttp.ClientSession` (created inside the running loop on first use, closed by
`close()`), through the registry's auth (upstream_auth.py: the token flow, Basic) when it has
one and an upstream's rate budget (ratebudget.py).
- Idempotent requests (`_request`) are retried (`retries` times, backoff 0.1 s, 0.2 s, ...:
  origin/retry.py) on connection errors and 5xx until response headers arrive; one 429 is
  waited out (Retry-After, capped), an upstream's at once becomes the client's 429.
- Every transport failure, timeout, 5xx, throttling or body too large becomes
  OCIError(UNAVAILABLE) naming the registry (`label`); a 401/403 it still answers after
  authenticating is DENIED naming the setting to fix. No aiohttp exception leaves here.
- Small bodies (manifests, listings) are read capped at MAX_MANIFEST_BYTES; listings follow
  RFC 8288 `Link: <...>; rel="next"` pages.
"""
from __future__ import annotations

import asyncio
import email.utils
import json
import math
import time
from typing import Any, AsyncIterator

import aiohttp
import yarl

from .. import __version__, errors, metrics
from ..config import ConfigError
from ..errors import OCIError
from .ratebudget import RateBudget
from .retry import Backoff
from .upstream_auth import UpstreamAuth

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_PAGES = 10_000
# Bytes a response buffers before its socket is paused (aiohttp's default, 64 KiB, hands a
# fill chunks of about that size: one hop to the hash+write thread each); bounded per response.
READ_BUFSIZE = 1024 * 1024
RETRY_AFTER_CAP = 5.0
# Whatever aiohttp, asyncio or the OS raise while a request or its body is in flight.
_TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


def _retry_after(value: str | None) -> float:
    """Seconds from a Retry-After header (RFC 9110 10.2.3: delay-seconds or an HTTP-date)."""
    if not value:
        return 1.0
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return 1.0


class RegistryHTTP:
    """Requests to one registry at `base_url`; named `label` in every error."""

    def __init__(self, base_url: str, *, connect_timeout: float = 10.0, read_timeout: float = 60.0,
                 max_connections: int = 64, retries: int = 3, name: str | None = None,
                 auth: UpstreamAuth | None = None, budget: RateBudget | None = None) -> None:
        url = yarl.URL(base_url.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(f"origin {base_url!r}: expected http(s)://host[:port]")
        self.base_url = str(url)
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self.retries = retries
        self.backoff = Backoff(retries)
        self.page_size: int | None = None  # `n` sent with listings; None lets the registry choose
        # A mirrored upstream (docs/MIRRORS.md) is named in errors and may need auth and a budget.
        self.label = f"upstream {name} ({self.base_url})" if name else f"origin {self.base_url}"
        self.auth = auth
        self.budget = budget
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections),
                timeout=aiohttp.ClientTimeout(total=None, connect=self.connect_timeout,
                                              sock_read=self.read_timeout),
                cookie_jar=aiohttp.DummyCookieJar(),
                read_bufsize=READ_BUFSIZE,
                headers={"User-Agent": f"ocicache/{__version__}"})
        return self._session

    def _url(self, path: str) -> yarl.URL:
        return yarl.URL(self.base_url + path)

    def _unavailable(self, message: str, **kwargs: Any) -> OCIError:
        return OCIError(errors.UNAVAILABLE, f"{self.label}: {message}", **kwargs)

    async def _request(self, method: str, url: yarl.URL,
                       headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        """Send an idempotent request; the response has any status but 429 or 5xx.

        Retries connection errors and 5xx `self.retries` times with exponential backoff and
        waits out one 429 (Retry-After, capped). The caller reads and releases the response.
        (A 401 challenge handler belongs here: fetch a token, add it, resend once.)
        """
        attempt, throttled = 0, False
        while True:
            if self.budget is not None:
                self.budget.check(method, url.path)
            try:
                with metrics.ORIGIN_SECONDS.labels(method).time():
                    resp = await self._send(method, url, headers)
            except _TRANSPORT_ERRORS as exc:
                failure = f"{method} {url} failed: {str(exc) or type(exc).__name__}"
            else:
                if resp.status == 429:
                    delay = _retry_after(resp.headers.get("Retry-After"))
                    resp.release()
                    if self.budget is not None:  # an upstream: tell clients at once, before a ban
                        raise self.budget.throttled(delay, f"{method} {url}")
                    if throttled:
                        raise self._unavailable(
                            f"throttled (429) {method} {url} again after waiting; try later",
                            status=503, headers={"Retry-After": str(max(1, math.ceil(delay)))})
                    throttled = True
                    await asyncio.sleep(min(delay, RETRY_AFTER_CAP))
                    continue
                if resp.status < 500:
                    return resp
                failure = f"{method} {url} answered {resp.status} {resp.reason}"
                resp.release()
            if not self.backoff.allows(attempt + 1):
                raise self._unavailable(f"{failure} (after {attempt + 1} attempts); check that the origin "
                                        f"is up and reachable from this node, then retry")
            await self.backoff.wait(attempt + 1)
            attempt += 1

    async def _send(self, method: str, url: yarl.URL, headers: dict[str, str] | None, data: Any = None,
                    **kwargs: Any) -> aiohttp.ClientResponse:
        """One request; through the registry's auth (token flow, Basic) when it has one; a
        401/403 it still answers is DENIED naming the registry and the setting to fix."""
        if self.auth is None:
            return await self._client().request(method, url, headers=headers, data=data, **kwargs)
        resp = await self.auth.send(self._client(), method, url, headers, data, **kwargs)
        if self.budget is not None:
            self.budget.observe(resp.headers)
        if resp.status in (401, 403) and not url.path.endswith("/_catalog"):
            resp.release()
            raise self.auth.denied(url.path, resp.status, method)
        return resp

    def _unexpected(self, resp: aiohttp.ClientResponse, what: str) -> OCIError:
        resp.release()
        return self._unavailable(f"unexpected status {resp.status} {resp.reason} to "
                                 f"{resp.method} {resp.url} ({what})")

    async def _read_json(self, resp: aiohttp.ClientResponse, what: str) -> Any:
        try:
            body = await self._read_capped(resp, what)
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise self._unavailable(f"{what}: {resp.url} returned invalid JSON") from None

    async def _read_capped(self, resp: aiohttp.ClientResponse, what: str) -> bytes:
        """The whole body of a small response, refusing more than MAX_MANIFEST_BYTES."""
        cap = MAX_MANIFEST_BYTES
        try:
            if resp.content_length is not None and resp.content_length > cap:
                raise self._unavailable(f"{what}: {resp.url} announced {resp.content_length} "
                                        f"bytes, more than the {cap} accepted")
            body = await resp.content.read(cap + 1)
            while len(body) <= cap:
                more = await resp.content.read(cap + 1 - len(body))
                if not more:
                    break
                body += more
        except _TRANSPORT_ERRORS as exc:
            raise self._unavailable(f"{what}: reading {resp.url} failed: "
                                    f"{type(exc).__name__}: {exc}") from None
        finally:
            resp.release()
        if len(body) > cap:
            raise self._unavailable(f"{what}: {resp.url} returned more than the {cap} bytes accepted")
        return body

    async def _pages(self, path: str, what: str, missing: tuple[int, ...] = (404,),
                     last: str | None = None) -> AsyncIterator[Any]:
        """JSON bodies of a listing, following RFC 8288 `Link: <...>; rel="next"` (spec end-8b),
        from the first name after `last`. Yields None instead of a body when the first page has a
        status in `missing`."""
        url = self._url(path)
        if self.page_size is not None:
            url = url.update_query(n=self.page_size)
        if last is not None:
            url = url.update_query(last=last)
        seen = set()
        while url not in seen and len(seen) < MAX_PAGES:
            seen.add(url)
            resp = await self._request("GET", url)
            if resp.status in missing and len(seen) == 1:
                resp.release()
                yield None
                return
            if resp.status != 200:
                raise self._unexpected(resp, what)
            link = resp.links.get("next", {}).get("url")
            yield await self._read_json(resp, what)
            if link is None:
                return
            url = resp.url.join(yarl.URL(str(link)))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
