"""A fault-injecting, request-counting HTTP proxy in front of a registry, for tests.

    proxy = FaultProxy(node.url); proxy.start()     # or: with FaultProxy(node.url) as proxy:
    ... point a client at proxy.url; set faults as attributes at any time ...
    proxy.stop()

It runs an aiohttp server on 127.0.0.1:<free port> in a thread with its own event loop (usable
from sync and async tests alike), forwards method, path+query, headers (not hop-by-hop ones,
not Host) and body, and streams response bodies back chunk by chunk (never buffered whole).

Observations: `counts` is a Counter of (method, kind), kind one of "blob", "manifest", "tags",
"other" (uploads, catalog, referrers, /v2/); `requests` lists (method, path_qs, status) in
arrival order (status 0 for a request left hanging); `reset()` clears faults and both.

Faults (attributes; body faults apply to GET bodies of the kinds in `fault_kinds`, default
{"blob"}):
- `throttle_bps`: send bodies at about this many bytes per second.
- `delay_s`: wait this long before answering any request.
- `drop_after`: close the connection after this many body bytes; cleared once it fires,
  unless `drop_every` is True (then every matching body is cut there).
- `corrupt`: flip (xor 0xff) the body byte at offset `corrupt_at` (default 0).
- `strip_range`: drop the client's Range header, so the upstream answers 200 with everything.
- `hide_headers`: names of response headers to remove (any kind, any method).
- `status_override`: answer this status (with an OCI error body) instead of forwarding, for the
  kinds in `status_kinds` (None: every request); `retry_after` adds that Retry-After header;
  `status_times` limits it to the next N matching requests (None: until changed).
- `hang`: never answer (the connection is closed when the proxy stops); only requests of the
  kinds in `hang_kinds` when that is set (None: every request).
- `stall_after`: send this many body bytes, then stop sending without closing, until
  `stall_after` is set back to None (then the rest follows) or the proxy stops.
"""
from __future__ import annotations

import asyncio
import re
import socket
import threading
from collections import Counter

import aiohttp
from aiohttp import web

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade", "host", "content-length"}
CHUNK = 64 * 1024
_KINDS = [(re.compile(r"/v2/.+/blobs/uploads(/.*)?"), "other"), (re.compile(r"/v2/.+/blobs/[^/]+"), "blob"),
          (re.compile(r"/v2/.+/manifests/[^/]+"), "manifest"), (re.compile(r"/v2/.+/tags/list"), "tags")]


def kind_of(path: str) -> str:
    for pattern, kind in _KINDS:
        if pattern.fullmatch(path):
            return kind
    return "other"


class FaultProxy:
    def __init__(self, upstream_url: str) -> None:
        self.upstream = upstream_url.rstrip("/")
        self.port = 0
        self.counts: Counter = Counter()
        self.requests: list[tuple[str, str, int]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.reset()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        """Clear every fault and every observation."""
        with self._lock:
            self.throttle_bps: float | None = None
            self.delay_s = 0.0
            self.drop_after: int | None = None
            self.drop_every = False
            self.corrupt = False
            self.corrupt_at = 0
            self.strip_range = False
            self.hide_headers: set[str] = set()
            self.fault_kinds = {"blob"}
            self.status_override: int | None = None
            self.status_kinds: set[str] | None = None
            self.status_times: int | None = None
            self.retry_after: str | None = None
            self.hang = False
            self.hang_kinds: set[str] | None = None
            self.stall_after: int | None = None
            self.counts.clear()
            self.requests.clear()

    # ---- lifecycle ----
    def start(self) -> "FaultProxy":
        self._thread = threading.Thread(target=self._run, name=f"faultproxy->{self.upstream}", daemon=True)
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"fault proxy did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._session = aiohttp.ClientSession(auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
                                              timeout=aiohttp.ClientTimeout(total=None))
        try:
            await web.SockSite(runner, sock).start()
            self._ready.set()
            await self._stopping.wait()
        finally:
            await runner.cleanup()
            await self._session.close()

    # ---- one request ----
    def _record(self, method: str, path_qs: str, status: int) -> None:
        with self._lock:
            self.requests.append((method, path_qs, status))

    def _take_override(self, kind: str) -> int | None:
        with self._lock:
            if self.status_override is None or (self.status_kinds is not None and kind not in self.status_kinds):
                return None
            status = self.status_override
            if self.status_times is not None:
                self.status_times -= 1
                if self.status_times <= 0:
                    self.status_override = self.status_times = None
            return status

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        kind = kind_of(request.path)
        with self._lock:
            self.counts[(request.method, kind)] += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.hang and (self.hang_kinds is None or kind in self.hang_kinds):
            self._record(request.method, request.path_qs, 0)
            await self._stopping.wait()
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError
        status = self._take_override(kind)
        if status is not None:
            self._record(request.method, request.path_qs, status)
            headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
            return web.json_response({"errors": [{"code": "UNAVAILABLE", "message": "fault proxy"}]},
                                     status=status, headers=headers)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        faulty = request.method == "GET" and kind in self.fault_kinds
        if faulty and self.strip_range:
            headers.pop("Range", None)
        body = request.content if request.can_read_body else None
        if request.content_length is not None:
            headers["Content-Length"] = str(request.content_length)
        async with self._session.request(request.method, self.upstream + request.path_qs, headers=headers,
                                         data=body, allow_redirects=False) as upstream:
            self._record(request.method, request.path_qs, upstream.status)
            resp = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            hidden = HOP_BY_HOP | {name.lower() for name in self.hide_headers}
            for key, value in upstream.headers.items():
                if key.lower() not in hidden:
                    resp.headers.add(key, value)
            if upstream.content_length is not None:
                resp.content_length = upstream.content_length
            await resp.prepare(request)
            if request.method == "HEAD":
                return resp
            await self._stream(request, resp, upstream, faulty)
            await resp.write_eof()
            return resp

    async def _stream(self, request: web.Request, resp: web.StreamResponse,
                      upstream: aiohttp.ClientResponse, faulty: bool) -> None:
        sent, started = 0, asyncio.get_running_loop().time()
        with self._lock:
            drop_after = self.drop_after if faulty else None
            if drop_after is not None and not self.drop_every:
                self.drop_after = None
        bps = self.throttle_bps if faulty else None
        step = CHUNK if not bps else max(1, min(CHUNK, int(bps / 20)))
        async for chunk in upstream.content.iter_chunked(step):
            if faulty and self.corrupt and sent <= self.corrupt_at < sent + len(chunk):
                i = self.corrupt_at - sent
                chunk = chunk[:i] + bytes([chunk[i] ^ 0xFF]) + chunk[i + 1:]
            if drop_after is not None and sent + len(chunk) >= drop_after:
                await resp.write(chunk[:drop_after - sent])
                request.transport.close()  # flushes what was written, then closes mid-body
                raise asyncio.CancelledError
            stall = self.stall_after if faulty else None
            if stall is not None and sent + len(chunk) >= stall:
                await resp.write(chunk[:max(stall - sent, 0)])
                chunk = chunk[max(stall - sent, 0):]
                while self.stall_after is not None and not self._stopping.is_set():
                    await asyncio.sleep(0.02)
                if self._stopping.is_set():
                    request.transport.close()
                    raise asyncio.CancelledError
            await resp.write(chunk)
            sent += len(chunk)
            if bps:
                ahead = sent / bps - (asyncio.get_running_loop().time() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
