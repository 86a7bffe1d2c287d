"""The one place errors become responses, and the headers every response carries."""
from __future__ import annotations

import json
import logging
from http import HTTPStatus

from aiohttp import web

from .. import errors
from ..auth.guard import principal_of
from ..errors import OCIError

log = logging.getLogger("ocicache.http")

API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")


def error_response(exc: OCIError) -> web.Response:
    # For HEAD, aiohttp sends the Content-Length of this body but not the body itself.
    resp = web.Response(status=exc.status, body=json.dumps(exc.body()).encode(),
                        content_type="application/json", reason=_reason(exc))
    for key, value in exc.headers.items():
        resp.headers[key] = value
    return resp


def _reason(exc: OCIError) -> str | None:
    """5xx: the message in the status line too. Docker prints only the status line of a 5xx
    ("received unexpected HTTP status: 503 ..."), never its body."""
    if exc.status < 500:
        return None
    text = "".join(c if " " <= c <= "~" else "?" for c in exc.message)[:400]
    try:
        phrase = HTTPStatus(exc.status).phrase
    except ValueError:
        phrase = "Error"
    return f"{phrase} ({text})"


@web.middleware
async def oci_errors(request: web.Request, handler) -> web.StreamResponse:
    """Render OCIError (and aiohttp's own HTTP errors) as the spec's error JSON.

    Anything else is a bug in the node: it is logged once with its traceback and the
    client gets a JSON 500 that says so, never a traceback.
    """
    try:
        resp = await handler(request)
    except OCIError as exc:
        resp = error_response(exc)
    except web.HTTPException as exc:
        code = {404: errors.NOT_FOUND, 405: errors.METHOD_NOT_ALLOWED,
                413: errors.SIZE_INVALID}.get(exc.status)
        if code is None or exc.status < 400:
            raise
        resp = error_response(OCIError(code, exc.reason, status=exc.status))
    except ConnectionError:
        raise  # the client went away; aiohttp drops the connection quietly
    except Exception:
        log.exception("internal error serving %s %s", request.method, request.path_qs[:300])
        resp = error_response(OCIError(errors.ErrorCode("UNKNOWN", "internal error in the registry node; "
                                                        "the node's log has the details", 500)))
    return resp


# Nothing here is a page: no sniffing, framing, scripts or referrers, whatever a browser is shown.
SECURITY_HEADERS = (("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"),
                    ("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'"),
                    ("Referrer-Policy", "no-referrer"))
NO_STORE_STATUS = frozenset((401, 403, 429))


async def common_headers(request: web.Request, resp: web.StreamResponse) -> None:
    """on_response_prepare: headers every response carries, streamed ones included.

    Answers about credentials (401, 403, 429, tokens) and upload sessions are never stored
    by caches; with auth on, what a public cache could hand to someone else is `private`.
    """
    headers = resp.headers
    headers.setdefault(*API_VERSION_HEADER)
    headers["Server"] = "ocicache"  # not aiohttp's and Python's versions
    for name, value in SECURITY_HEADERS:
        headers.setdefault(name, value)
    if resp.status in NO_STORE_STATUS or "/blobs/uploads" in request.path or request.path == "/token":
        headers["Cache-Control"] = "no-store"
    elif principal_of(request) is not None and headers.get("Cache-Control", "").startswith("public"):
        headers["Cache-Control"] = "private" + headers["Cache-Control"][6:]
    if request.secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
