"""Requests the HTTP parser refuses, answered by the node rather than by aiohttp.

aiohttp answers a request it cannot parse (a NUL in a header, a header over max_header_bytes,
Content-Length with Transfer-Encoding, a bad request line, ...) itself: a plain-text 400 that
echoes the input, `Server: Python/x aiohttp/y`, no security headers, and an ERROR with a
traceback in the log. `NodeRunner` serves the app with a request handler whose `handle_error`
answers instead with the node's OCI error JSON, the headers every answer carries, `Server:
ocicache` and no word of the input; logs one WARNING line (client address and what was wrong,
no traceback); and counts the request against the client IP's rate limit (ratelimit.py), so
an address sending garbage runs out of requests like any other (then: 429, logged at DEBUG).
A 500 that reaches aiohttp (a bug outside the error middleware) is still logged with its
traceback, but the client gets the same JSON 500 as from http/middleware.py.
"""
from __future__ import annotations

import json
import logging

from aiohttp import http_exceptions as hx
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from .. import errors
from ..auth.ratelimit import IP_BUCKETS
from .middleware import API_VERSION_HEADER, SECURITY_HEADERS

log = logging.getLogger("ocicache.http")
MALFORMED = errors.ErrorCode("UNSUPPORTED", "the request could not be parsed as HTTP/1.1", 400)
# What was wrong, in words that never repeat the request's bytes: first by the parser's own
# fixed phrase (llhttp's reasons), then by the exception's class.
PHRASES: tuple[tuple[str, str], ...] = (
    ("Transfer-Encoding can't be present with Content-Length",
     "it has both Content-Length and Transfer-Encoding (refused: request smuggling)"),
    ("Invalid header value char", "a header value holds a character HTTP does not allow (NUL, control characters)"),
    ("Invalid header token", "a header name holds a character HTTP does not allow"),
    ("Content-Length", "its Content-Length is malformed"),
    ("Too many headers", "it has more headers than this node accepts ([limits] max_headers)"),
    ("chunk size", "a chunk size of its chunked body is malformed"),
    ("HTTPS traffic", "it is TLS sent to a plain-HTTP port (use http://, or set [tls] on this node)"),
)
CLASSES: tuple[tuple[type, str], ...] = (
    (hx.LineTooLong, "its request line or a header is longer than this node accepts "
                     "([limits] max_url_bytes, max_header_bytes)"),
    (hx.BadHttpMethod, "it does not start with an HTTP method"),
    (hx.InvalidURLError, "its URL is malformed"),
    (hx.BadStatusLine, "its request line is malformed"),
    (hx.InvalidHeader, "a header name or value holds characters HTTP does not allow"),
    (hx.TransferEncodingError, "its chunked body is malformed"),
    (hx.ContentLengthError, "its body does not match its Content-Length"),
)


def reason_for(exc: BaseException | None) -> str:
    text = str(getattr(exc, "message", "") or "")
    for phrase, reason in PHRASES:
        if phrase in text:
            return reason
    for cls, reason in CLASSES:
        if isinstance(exc, cls):
            return reason
    return "its framing or headers are malformed"


def _json_error(status: int, code: str, message: str, extra: dict[str, str] | None = None) -> web.Response:
    body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
    resp = web.Response(status=status, body=body, content_type="application/json")
    resp.headers["Server"] = "ocicache"
    resp.headers[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
    for name, value in SECURITY_HEADERS:
        resp.headers[name] = value
    resp.headers["Cache-Control"] = "no-store"
    resp.headers["Connection"] = "close"
    for name, value in (extra or {}).items():
        resp.headers[name] = value
    resp.force_close()
    return resp


class NodeRequestHandler(RequestHandler):
    """aiohttp's connection handler with the node's answer to what it cannot hand to the app."""

    def handle_error(self, request, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp: an answer is under way, only closing is left
            raise ConnectionError("a response was already under way; closing the connection")
        extra = {"Strict-Transport-Security": "max-age=31536000"} if self.ssl_context is not None else {}
        if isinstance(exc, hx.HttpProcessingError):
            return self._refused(request, exc, extra)
        if isinstance(exc, ConnectionError):  # the client went away mid-request: nothing to tell anyone
            log.debug("connection from %s lost mid-request: %s", request.remote, exc)
            return _json_error(400, MALFORMED.code, "the connection was lost", extra)
        if status >= 500:
            log.error("internal error answering %s from %s", "a request" if exc is None else
                      type(exc).__name__, request.remote, exc_info=exc)
        text = ("the request took longer than the node allows" if status == 504 else
                "internal error in the registry node; the node's log has the details")
        return _json_error(status, "UNKNOWN", text, extra)

    def _refused(self, request, exc: hx.HttpProcessingError, extra: dict[str, str]) -> web.StreamResponse:
        ip = request.remote or "unknown"
        reason = reason_for(exc)
        app = getattr(self._manager, "app", None)
        buckets = app.get(IP_BUCKETS) if app is not None else None
        wait = buckets.take(ip) if buckets is not None else 0.0
        if wait:
            log.debug("malformed request from %s while over its rate limit: %s", ip, reason)
            seconds = str(max(1, int(wait + 0.999)))
            return _json_error(429, errors.TOOMANYREQUESTS.code, f"too many requests from client {ip}; "
                               f"retry in {seconds} s", {**extra, "Retry-After": seconds})
        log.warning("refused a malformed request from %s (400): %s", ip, reason)
        return _json_error(400, MALFORMED.code, f"the node could not parse this request: {reason}; "
                           "nothing was done. Fix the client or proxy that sent it", extra)


class NodeServer(web.Server):
    """aiohttp's Server, making NodeRequestHandler connections; knows the app (its rate limits)."""

    app: web.Application | None = None

    def __call__(self) -> RequestHandler:
        return NodeRequestHandler(self, loop=self._loop, **self._kwargs)


class NodeRunner(web.AppRunner):
    """web.AppRunner for `ocicache serve`: the same app, served with NodeRequestHandler."""

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        server = NodeServer(plain.request_handler, request_factory=plain.request_factory,
                            handler_cancellation=plain.handler_cancellation, loop=plain._loop, **plain._kwargs)
        server.app = self.app
        return server
