"""SIGHUP: read the configuration again and apply what can change without a restart.

Parts of the app register a hook with `on_reload(app, hook)`; `reload(app, load)` loads and
validates the new configuration first, and applies nothing if it is invalid (the node keeps
serving with the old one and says why). Connections are never dropped: hooks swap state
in place. Keys that need a restart are named in the log.
"""
from __future__ import annotations

import logging
from typing import Callable

from aiohttp import web

from . import logs as logjson
from ..config import Config, ConfigError
from ..http.state import CONFIG

log = logging.getLogger("ocicache.reload")
Hook = Callable[[Config], None]
HOOKS = web.AppKey("reload_hooks", list)
RESTART_KEYS = [("server", "listen"), ("server", "workers"), ("storage", "data_dir"), ("storage", "origin"),
                ("cache", "dir"), ("cache", "max_bytes"), ("tls", "cert"), ("tls", "key")]


def on_reload(app: web.Application, hook: Hook) -> None:
    """Call `hook(new_config)` on every reload (register before the app starts)."""
    app.setdefault(HOOKS, []).append(hook)


def reload(app: web.Application, load: Callable[[], Config]) -> bool:
    """Apply a freshly loaded configuration; False (and an error logged) if it is invalid."""
    old: Config = app[CONFIG]
    try:
        new = load()
        for hook in app.get(HOOKS, []):
            hook(new)
    except ConfigError as exc:
        log.error("reload refused, still serving with the previous configuration: %s; "
                  "fix it and send SIGHUP again", exc)
        return False
    logjson.set_level(new.log.level)
    stale = [f"[{s}] {k}" for s, k in RESTART_KEYS if getattr(getattr(old, s), k) != getattr(getattr(new, s), k)]
    if stale:
        log.warning("reloaded; these changed keys take effect only after a restart: %s", ", ".join(stale))
    else:
        log.info("configuration reloaded")
    return True
