"""The read-only web UI under /ui/ (docs/UI.md): repositories, tags, images and indexes with
their referrers, and the cache of an edge node, as server-rendered HTML.

It reads through the node's own `Registry` (as the API's handlers do) and the same access
control: the session cookie names a user, and the ACL decides what that user sees.
"""
from __future__ import annotations

from aiohttp import web

from ..config import Config
from . import fillboard
from .routes import add_routes
from .session import Sessions
from .viewer import SESSIONS


def install(app: web.Application, cfg: Config) -> None:
    app[SESSIONS] = Sessions(cfg.data_path / "auth" / "ui-session.key")
    add_routes(app)
    if cfg.keeps_cache:
        app.cleanup_ctx.append(fillboard.installer(cfg))  # every worker's fills for the cache page
