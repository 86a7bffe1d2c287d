"""Wiring for running the node as a service: access log + metrics middleware, /healthz,
/readyz, /metrics, the admin API, and what SIGHUP reloads (one call from make_app)."""
from __future__ import annotations

from typing import Callable

from aiohttp import web

from ..config import Config
from . import admin, health
from .access import ACCESS_LOG_ON


def install(app: web.Application, cfg: Config) -> Callable[[Config], Callable[[], None]]:
    """Returns the SIGHUP hook: the admin secret is read again from [admin] token_file."""
    app[ACCESS_LOG_ON] = cfg.log.access
    health.add_routes(app)
    state = admin.AdminState()
    state.prepare(cfg)()
    admin.add_routes(app, state)
    return state.prepare
