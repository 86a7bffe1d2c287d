"""The outermost middleware: request metrics and one access-log line per request.

It sees every response, errors included (the OCI error middleware sits inside it), so
401, 404 and 429 answers are counted and logged like the rest. Labels stay bounded: the
route is one of a fixed set of names, never the path.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time

from aiohttp import web

from ..auth.guard import principal_of
from .. import metrics
from ..metrics import loglines
from .bloblinks import ServesOwnFiles
from .state import CONFIG

log = logging.getLogger("ocicache.access")

_V2 = [(re.compile(r"/v2/(?P<repo>.+?)/blobs/uploads(?:/(?P<ref>[^/]*))?"), "upload"),
       (re.compile(r"/v2/(?P<repo>.+?)/blobs/(?P<ref>[^/]+)"), "blob"),
       (re.compile(r"/v2/(?P<repo>.+?)/manifests/(?P<ref>[^/]+)"), "manifest"),
       (re.compile(r"/v2/(?P<repo>.+?)/tags/list"), "tags"),
       (re.compile(r"/v2/(?P<repo>.+?)/referrers/(?P<ref>[^/]+)"), "referrers")]
_EXACT = {"/v2": "base", "/v2/": "base", "/v2/_catalog": "catalog", "/metrics": "metrics",
          "/healthz": "healthz", "/readyz": "readyz", "/token": "token"}
_QUIET = {"metrics", "healthz", "readyz"}
_BODY_ROUTES = {"blob", "manifest"}
ACCESS_LOG_ON = web.AppKey("access_log_on", bool)
IDENTITY_KEY = "identity"
"""request[IDENTITY_KEY]: who the authentication middleware found (user name); logged."""


def classify(path: str) -> tuple[str, str | None, str | None]:
    """(route name, repository, digest or tag) of a request path."""
    route = _EXACT.get(path)
    if route is not None:
        return route, None, None
    if path.startswith("/admin/"):
        return "admin", None, None
    if path.startswith("/v2/"):
        for pattern, name in _V2:
            match = pattern.fullmatch(path)
            if match:
                return name, match.group("repo")[:256], (match.groupdict().get("ref") or None)
    return "other", None, None


_serves_own_files = ServesOwnFiles()  # asked once per config: Config.keeps_cache resolves a path


def _keeps_cache(request: web.Request) -> bool:
    cfg = request.app.get(CONFIG)
    return bool(cfg is not None and not _serves_own_files(cfg))


def body_bytes(request: web.Request, resp: web.StreamResponse | None, status: int) -> int:
    """Body bytes of the answer, whatever its status (a 401 or 503 carries its error JSON). A
    web.Response is written after the middleware returns: its body is counted; a stream (blobs)
    was written by the handler: its Content-Length, once it ended normally."""
    if resp is None or request.method == "HEAD" or status in (204, 304) or status < 200:
        return 0
    if isinstance(resp, web.Response) and not resp.prepared:
        body = resp.body
        if isinstance(body, (bytes, bytearray, memoryview)):
            return len(body)
        return resp.content_length or 0
    return resp.content_length or 0


@web.middleware
async def access(request: web.Request, handler) -> web.StreamResponse:
    start = time.monotonic()
    facts, token = metrics.begin()
    resp: web.StreamResponse | None = None
    status = 500
    try:
        resp = await handler(request)
        status = resp.status
        return resp
    except web.HTTPException as exc:
        status = exc.status
        raise
    except (ConnectionError, asyncio.CancelledError):
        status = 499  # the client went away before the answer was complete (nginx's code)
        raise
    finally:
        metrics.end(token)
        _record(request, resp, status, facts, time.monotonic() - start)


def _record(request: web.Request, resp: web.StreamResponse | None, status: int, facts: dict,
            seconds: float) -> None:
    route, repo, ref = classify(request.path)
    sent = body_bytes(request, resp, status)
    metrics.request_answered(route, request.method, status, seconds)
    cache = facts.get("cache")
    if cache is None and route in _BODY_ROUTES and 200 <= status < 300 and _keeps_cache(request):
        cache = "miss"  # answered by asking the origin, no fill (a HEAD of a blob not in the store)
    if route in _BODY_ROUTES and sent and status < 300:  # blob and manifest bodies, not error JSON
        metrics.SERVED_BYTES.labels({"hit": "cache", None: "local"}.get(cache, "origin")).inc(sent)
    if not request.app.get(ACCESS_LOG_ON, True):
        return
    principal = principal_of(request)
    identity = request.get(IDENTITY_KEY) or facts.get("identity") or (principal.user if principal else None)
    fields = {"client": request.remote, "identity": identity,
              "method": request.method, "route": route, "repo": repo,
              "digest": ref if ref and ":" in ref else None,
              "tag": ref if ref and route == "manifest" and ":" not in ref else None, "status": status,
              "bytes": sent, "duration_ms": round(seconds * 1000, 2), "cache": cache,
              "user_agent": request.headers.get("User-Agent", "")[:200]}
    level = logging.DEBUG if route in _QUIET else logging.INFO
    if not log.isEnabledFor(level):
        return
    msg = f"{request.method} {request.path[:300]} {status}"
    lines = loglines.fast_lines()
    if lines is None:  # logging not set up by ocicache (an application built in a test): a record
        log.log(level, "%s", msg, extra={"fields": fields})
    else:
        lines.write(logging.getLevelName(level), log.name, msg, fields)

