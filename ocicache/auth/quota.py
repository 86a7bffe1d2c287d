"""At most N open upload sessions per identity (the user, or the client IP when anonymous).

Sessions are counted from what this worker answers, whatever stores them: a 202 that
opens one adds it; finishing (201), cancelling (204), an unknown session (404) or a digest
mismatch (400, the session is discarded) removes it; a session with no request for
`idle_timeout` seconds stops counting (the upload store expires it). Per worker process.
"""
from __future__ import annotations

import re
import time

from aiohttp import web

from ..errors import OCIError
from .guard import principal_of
from .ratelimit import client_ip, too_many

START_UPLOAD = re.compile(r"/v2/.+/blobs/uploads/?")
SESSION = re.compile(r"/v2/.+/blobs/uploads/(?P<id>[^/]+)")
RETRY_S = 30.0


class UploadQuota:
    def __init__(self, limit: int, idle_timeout: float) -> None:
        self.limit, self.idle_timeout = limit, idle_timeout
        self._open: dict[str, dict[str, float]] = {}   # who -> upload id -> last seen
        self._owner: dict[str, str] = {}               # upload id -> who

    def count(self, who: str, now: float) -> int:
        ids = self._open.get(who, {})
        for upload_id in [i for i, seen in ids.items() if seen < now - self.idle_timeout]:
            self.remove(upload_id)
        return len(self._open.get(who, {}))

    def add(self, who: str, upload_id: str, now: float) -> None:
        self._open.setdefault(who, {})[upload_id] = now
        self._owner[upload_id] = who

    def touch(self, upload_id: str, now: float) -> None:
        who = self._owner.get(upload_id)
        if who is not None:
            self._open[who][upload_id] = now

    def remove(self, upload_id: str) -> None:
        who = self._owner.pop(upload_id, None)
        if who is not None:
            self._open[who].pop(upload_id, None)
            if not self._open[who]:
                del self._open[who]


def _ended(method: str, status: int) -> bool:
    """Whether the session is gone after this answer (a PUT that fails its digest discards it)."""
    return (method == "PUT" and status in (201, 400)) or (method == "DELETE" and status == 204) or status == 404


def upload_quota(limit: int, idle_timeout: float, trusted: tuple) -> web.middleware:
    quota = UploadQuota(limit, idle_timeout)

    @web.middleware
    async def limit_uploads(request: web.Request, handler) -> web.StreamResponse:
        path, now = request.path, time.monotonic()
        if request.method == "POST" and START_UPLOAD.fullmatch(path):
            principal = principal_of(request)
            who = f"user {principal.user}" if principal and principal.user else \
                f"client {client_ip(request, trusted)}"
            if quota.count(who, now) >= quota.limit:
                raise too_many(f"{who}: {quota.limit} upload sessions are open; finish or cancel some", RETRY_S)
            resp = await handler(request)
            upload_id = resp.headers.get("Docker-Upload-UUID")
            if resp.status == 202 and upload_id:
                quota.add(who, upload_id, now)
            return resp
        match = SESSION.fullmatch(path) if "/blobs/uploads/" in path else None
        if match is None:
            return await handler(request)
        status = 500
        try:
            resp = await handler(request)
            status = resp.status
        except OCIError as exc:
            status = exc.status
            raise
        finally:
            if _ended(request.method, status):
                quota.remove(match.group("id"))
            else:
                quota.touch(match.group("id"), now)
        return resp

    return limit_uploads
