"""SIGHUP: read the configuration again and apply what can change without a restart.

`reload(app, load)` loads and validates the new configuration, asks every reload hook of the
app (app.Reloadable) to build its new state, and only when all succeeded swaps them in: an
invalid file changes nothing (the node keeps serving with the old configuration and says
why). Connections are never dropped: hooks swap state in place.

Applied on reload (docs/DEPLOY.md): RELOADABLE below. Every other changed key is named in a
warning: it was NOT applied and needs a restart.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Callable

from aiohttp import web

from ..app import RELOAD
from ..config import Config, ConfigError
from . import logs

log = logging.getLogger("ocicache.reload")

RELOADABLE: dict[str, frozenset[str]] = {
    "log": frozenset({"level"}),
    "admin": frozenset({"token_file"}),
    "auth": frozenset({"htpasswd", "token_key", "verify_keys", "realm", "service", "issuer", "token_ttl",
                       "groups", "acl"}),
    "ratelimit": frozenset({"per_ip_rate", "per_ip_burst", "per_identity_rate", "per_identity_burst",
                            "trusted_proxies"}),
}


def changed_keys(old: Config, new: Config) -> list[tuple[str, str]]:
    """(section, key) of every key whose value differs."""
    out = []
    for section in dataclasses.fields(old):
        before, after = getattr(old, section.name), getattr(new, section.name)
        for key in dataclasses.fields(before):
            if getattr(before, key.name) != getattr(after, key.name):
                out.append((section.name, key.name))
    return out


def applies(section: str, key: str, old: Config, new: Config) -> bool:
    """Whether a changed key takes effect on reload. Authentication and the rate limits are
    middlewares installed at start: turning them on or off (or the token service from no key
    to one) needs a restart, and then none of their keys is applied."""
    if key not in RELOADABLE.get(section, ()):
        return False
    if section == "auth":
        return old.auth.enabled == new.auth.enabled and bool(old.auth.token_key) == bool(new.auth.token_key)
    if section == "ratelimit":
        return old.ratelimit_enabled == new.ratelimit_enabled
    return True


def running(old: Config, new: Config, changed: list[tuple[str, str]]) -> Config:
    """What the node runs with after the reload: the new value of each applied key, the old
    value of the others (so the next reload names them again)."""
    sections: dict[str, object] = {}
    for section, key in changed:
        if applies(section, key, old, new):
            current = sections.get(section, getattr(old, section))
            sections[section] = dataclasses.replace(current, **{key: getattr(getattr(new, section), key)})
    return dataclasses.replace(old, **sections)


def reload(app: web.Application, load: Callable[[], Config]) -> bool:
    """Apply a freshly loaded configuration; False (and an error logged) if it is invalid."""
    state = app[RELOAD]
    old = state.config
    try:
        new = load()
        swaps = [hook(new) for hook in state.hooks]
    except ConfigError as exc:
        log.error("reload refused, still serving with the previous configuration: %s; "
                  "fix it and send SIGHUP again", exc)
        return False
    for swap in swaps:
        swap()
    logs.set_level(new.log.level)
    changed = changed_keys(old, new)
    applied = [f"[{s}] {k}" for s, k in changed if applies(s, k, old, new)]
    skipped = [f"[{s}] {k}" for s, k in changed if not applies(s, k, old, new)]
    state.config = running(old, new, changed)
    if skipped:
        log.warning("reloaded%s; NOT applied, these changed keys need a restart: %s",
                    f" {', '.join(applied)}" if applied else "", ", ".join(skipped))
    else:
        log.info("configuration reloaded%s", f": {', '.join(applied)}" if applied else " (nothing changed)")
    return True
