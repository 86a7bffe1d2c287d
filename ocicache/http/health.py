"""/healthz (the process answers), /readyz (it can serve: origin reachable, cache folder
writable with free space) and /metrics (Prometheus text). Not under /v2/: load balancers,
GeoDNS health checks and Prometheus call these, not registry clients.
"""
from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

import aiohttp
from aiohttp import web

from .. import metrics
from ..config import Config
from .state import registry_of, settings_of


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive", "pid": os.getpid()})


async def readyz(request: web.Request) -> web.Response:
    cfg = settings_of(request)
    checks = await asyncio.gather(_origin_check(request, cfg), asyncio.to_thread(_disk_check, cfg))
    ready = all(ok for _name, ok, _detail in checks)
    body = {"ready": ready, "checks": [{"name": n, "ok": ok, "detail": d} for n, ok, d in checks]}
    return web.Response(status=200 if ready else 503, text=json.dumps(body), content_type="application/json")


async def metrics_page(request: web.Request) -> web.Response:
    body, content_type = await asyncio.to_thread(metrics.render)
    return web.Response(body=body, headers={"Content-Type": content_type})


async def _origin_check(request: web.Request, cfg: Config) -> tuple[str, bool, str]:
    origin = registry_of(request).origin
    origin = getattr(origin, "remote", origin)  # the edge cache's origin, not the cache
    ping = getattr(origin, "ping", None)
    if ping is not None:  # an origin that knows how to check itself (e.g. object storage)
        try:
            await asyncio.wait_for(ping(), cfg.ops.ready_origin_timeout)
            return "origin", True, f"{cfg.origin_url} answered"
        except Exception as exc:  # any failure means: not ready; say which
            return "origin", False, f"{cfg.origin_url}: {type(exc).__name__}: {exc}"
    base_url = getattr(origin, "base_url", None)
    if base_url is None:
        root = getattr(origin, "root", None)
        ok = root is not None and os.access(root, os.R_OK | os.W_OK | os.X_OK)
        return "origin", ok, f"{root} is {'readable and writable' if ok else 'not readable and writable'}"
    return await _http_check(base_url, cfg.ops.ready_origin_timeout)


async def _http_check(base_url: str, timeout: float) -> tuple[str, bool, str]:
    url = f"{base_url}/v2/"
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            async with session.get(url, allow_redirects=False) as resp:
                if resp.status >= 500:
                    return "origin", False, f"{url} answered {resp.status}"
                return "origin", True, f"{url} answered {resp.status}"
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        return "origin", False, f"{url} unreachable: {type(exc).__name__} {exc}".strip()


def _disk_check(cfg: Config) -> tuple[str, bool, str]:
    folder = cfg.data_path if cfg.origin_is_local else cfg.cache_path
    probe = Path(folder) / f".readyz.{uuid.uuid4().hex}"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
        st = os.statvfs(folder)
    except OSError as exc:
        return "disk", False, f"cannot write in {folder}: {exc.strerror or exc}"
    free = st.f_bavail * st.f_frsize
    if free < cfg.ops.ready_min_free_bytes:
        return "disk", False, (f"{folder} has {free} bytes free, under [ops] ready_min_free_bytes "
                               f"{cfg.ops.ready_min_free_bytes}; prune the cache or grow the disk")
    return "disk", True, f"{folder} writable, {free} bytes free"


def add_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_page)
