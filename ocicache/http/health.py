"""/healthz (the process answers), /readyz (it can serve: each origin answers its own check,
the cache folder is writable with free space) and /metrics (Prometheus text). Not under /v2/: load balancers,
GeoDNS health checks and Prometheus call these, not registry clients.
"""
from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

from aiohttp import web

from .. import metrics
from ..config import Config
from ..origin import Origin
from .mirror_choice import MIRRORS
from .state import REGISTRY, settings_of


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive", "pid": os.getpid()})


async def readyz(request: web.Request) -> web.Response:
    """200 when every check passes: the node's origin and each mirrored upstream answer their own
    `check()` within [ops] ready_origin_timeout, and the cache (or data) folder takes writes."""
    cfg = settings_of(request)
    probes = [("origin", request.app[REGISTRY].origin)]
    mirrors = request.app.get(MIRRORS)
    if mirrors is not None:
        probes += [(f"upstream {m.name}", m.registry.origin) for m in mirrors.by_name.values()]
    checks = await asyncio.gather(*(_probe(name, origin, cfg.ops.ready_origin_timeout) for name, origin in probes),
                                  asyncio.to_thread(_disk_check, cfg))
    ready = all(ok for _name, ok, _detail in checks)
    body = {"ready": ready, "checks": [{"name": n, "ok": ok, "detail": d} for n, ok, d in checks]}
    return web.Response(status=200 if ready else 503, text=json.dumps(body), content_type="application/json")


async def _probe(name: str, origin: Origin, timeout: float) -> tuple[str, bool, str]:
    try:
        health = await asyncio.wait_for(origin.check(), timeout)
    except asyncio.TimeoutError:
        return name, False, (f"the {origin.kind} origin did not answer within {timeout:g} s "
                             "([ops] ready_origin_timeout)")
    return name, health.ok, health.detail


async def metrics_page(request: web.Request) -> web.Response:
    body, content_type = await asyncio.to_thread(metrics.render)
    return web.Response(body=body, headers={"Content-Type": content_type})


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
