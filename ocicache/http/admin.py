"""The admin API under /admin/: off unless `[admin] token_file` is set; every call needs
`Authorization: Bearer <the secret in that file>` (re-read on SIGHUP).

    GET    /admin/fills                  blobs being fetched from the origin by this worker
    POST   /admin/purge                  {"repository": r, "tag"?: t, "digest"?: d}; every worker at
                                         once, every node on the same origin within [cache] purge_poll
                                         (cache/journal.py); the answer's "reaches" says which
    POST   /admin/prefetch               {"image": "repo:tag", "platforms"?: ["linux/amd64"]}
    GET    /admin/pins
    PUT    /admin/pins/<repository>      pin (never evict) what the repository's tags hold
    DELETE /admin/pins/<repository>
"""
from __future__ import annotations

import datetime
import hmac
import json
import os
from dataclasses import dataclass
from typing import Callable

from aiohttp import web

from .. import errors, metrics
from ..errors import OCIError
from ..cache.journal import PurgeJournal
from ..config.ops import read_admin_token
from ..reference import Digest, check_name, check_tag
from ..oci import walk
from ..registry.cachectl import CacheControl
from ..registry.prefetch import RegistrySource
from .state import registry_of


@dataclass
class AdminState:
    """The current admin secret; replaced in place on reload (empty: API off)."""

    token: str = ""

    def prepare(self, cfg) -> Callable[[], None]:
        """Read the secret of `cfg` now (ConfigError if unusable); the swap makes it current."""
        token = read_admin_token(cfg.admin.token_file) if cfg.admin.token_file else ""

        def swap() -> None:
            self.token = token
        return swap


ADMIN = web.AppKey("admin", AdminState)
PURGES = web.AppKey("purges", PurgeJournal)
"""The origin's purge journal (set by make_app when the origin keeps one)."""


def _authorize(request: web.Request) -> None:
    secret = request.app[ADMIN].token
    if not secret:
        raise OCIError(errors.NOT_FOUND, "the admin API is off on this node; set [admin] token_file "
                       "(a file holding a long random secret) and reload or restart")
    given = request.headers.get("Authorization", "")
    if not (given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), secret.encode())):
        raise OCIError(errors.UNAUTHORIZED, "the admin API needs `Authorization: Bearer <secret from "
                       "[admin] token_file>`", headers={"WWW-Authenticate": 'Bearer realm="ocicache-admin"'})
    metrics.note(identity="admin")


INVALID_REQUEST = errors.ErrorCode("INVALID_REQUEST", "invalid request", 400)
_EXAMPLES = {"/admin/purge": '{"repository": "team/app", "tag": "v1"} (or "digest", or neither: every tag)',
             "/admin/prefetch": '{"image": "team/app:v1", "platforms": ["linux/amd64"]}'}


async def _json_body(request: web.Request, required: str) -> dict:
    """The JSON object a POST carries; OCI errors that say what to send (never the parser's text)."""
    example = _EXAMPLES.get(request.path, "a JSON object")
    raw = await request.read()
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise OCIError(INVALID_REQUEST, f"the body of POST {request.path} is not JSON; send {example}") from None
    if not isinstance(body, dict):
        raise OCIError(INVALID_REQUEST, f"the body of POST {request.path} must be a JSON object: {example}")
    if not isinstance(body.get(required), str) or not body[required]:
        raise OCIError(INVALID_REQUEST, f"POST {request.path} needs \"{required}\" (a string): {example}")
    return body


def _control(request: web.Request) -> CacheControl:
    _authorize(request)
    return CacheControl(registry_of(request).origin)


async def fills(request: web.Request) -> web.Response:
    return web.json_response({"pid": os.getpid(), "fills": _control(request).fills()})


async def purge(request: web.Request) -> web.Response:
    ctl = _control(request)
    body = await _json_body(request, "repository")
    repo = check_name(body["repository"])
    tag, digest = body.get("tag"), body.get("digest")
    if tag is not None:
        tag = check_tag(str(tag))
    if digest is not None:
        digest = str(Digest.parse(str(digest)))
    registry = registry_of(request)
    try:
        answer = await ctl.purge(repo, tag, digest, request.app.get(PURGES))
    finally:
        registry.wrote(repo)  # every worker of this node drops what it kept of the repository
    return web.json_response(answer)


async def prefetch(request: web.Request) -> web.Response:
    _control(request)  # authorized, and an edge node
    body = await _json_body(request, "image")
    repo, reference = walk.parse_image(body["image"])
    wanted = body.get("platforms") or []
    if not isinstance(wanted, list) or not all(isinstance(p, str) for p in wanted):
        raise OCIError(INVALID_REQUEST, f"\"platforms\" must be a list of strings like [\"linux/amd64\"]: "
                       f"{_EXAMPLES['/admin/prefetch']}")
    platforms = set(wanted) or None
    source = RegistrySource(registry_of(request))
    blobs = await walk.plan(source, repo, reference, platforms)
    total = 0

    def count(n: int) -> None:
        nonlocal total
        total += n

    await walk.warm(source, blobs, count)
    return web.json_response({"image": f"{repo}:{reference}" if ":" not in reference else f"{repo}@{reference}",
                              "blobs": len({b.digest for b in blobs}), "bytes": total})


def _when(epoch: object) -> object:
    """A pin's time as ISO 8601 UTC (`2025-01-31T12:00:00Z`), not a raw epoch float."""
    if not isinstance(epoch, (int, float)):
        return epoch
    return datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc).isoformat(timespec="seconds") \
        .replace("+00:00", "Z")


async def pins(request: web.Request) -> web.Response:
    listed = [{**pin, "pinned_at": _when(pin.get("pinned_at"))} for pin in _control(request).pins()]
    return web.json_response({"pins": listed})


async def pin(request: web.Request) -> web.Response:
    ctl = _control(request)
    repo = check_name(request.match_info["repo"])
    if request.method == "DELETE":
        return web.json_response(await ctl.unpin(repo))
    return web.json_response(await ctl.pin(repo))


def add_routes(app: web.Application, state: AdminState) -> None:
    app[ADMIN] = state
    app.router.add_get("/admin/fills", fills)
    app.router.add_post("/admin/purge", purge)
    app.router.add_post("/admin/prefetch", prefetch)
    app.router.add_get("/admin/pins", pins)
    app.router.add_route("PUT", "/admin/pins/{repo:.+}", pin)
    app.router.add_route("DELETE", "/admin/pins/{repo:.+}", pin)
