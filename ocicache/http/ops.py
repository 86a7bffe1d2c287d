"""Wiring for running the node as a service: access log + metrics middleware, /healthz,
/readyz, /metrics, the admin API, and what SIGHUP reloads (one call from make_app)."""
from __future__ import annotations

from aiohttp import web

from ..service import reload
from ..config import Config
from . import admin, health
from .access import ACCESS_LOG_ON


def install(app: web.Application, cfg: Config) -> None:
    app[ACCESS_LOG_ON] = cfg.log.access
    health.add_routes(app)
    state = admin.AdminState()
    state.reload(cfg)
    admin.add_routes(app, state)
    reload.on_reload(app, state.reload)
