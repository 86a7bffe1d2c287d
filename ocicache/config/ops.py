"""Config sections for running the node as a service: logs, shutdown and readiness, the
admin API and origin garbage collection. Part of the one frozen `Config` (config/model.py);
every key also reads from `OCICACHE_<SECTION>_<KEY>`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError

LOG_FORMATS = ("json", "text")


@dataclass(frozen=True)
class LogConfig:
    level: str = "INFO"
    """Least severe level logged: DEBUG, INFO, WARNING or ERROR (reloaded on SIGHUP)."""
    format: str = "json"
    """`json`: one JSON object per line on stdout (journald, log shippers); `text`: plain lines."""
    access: bool = True
    """One line per request (client, identity, method, repository, digest or tag, status,
    bytes, duration, cache hit/miss/fill). Health checks and scrapes log at DEBUG."""


@dataclass(frozen=True)
class OpsConfig:
    shutdown_timeout: float = 30.0
    """Seconds in-flight requests may take to finish after SIGTERM before they are cut."""
    ready_min_free_bytes: int = 1024 ** 3
    """/readyz fails when the cache (or data) folder's filesystem has less free space than this."""
    ready_origin_timeout: float = 2.0
    """Seconds /readyz waits for the origin to answer before calling it unreachable."""


@dataclass(frozen=True)
class AdminConfig:
    token_file: str = ""
    """File holding the bearer secret of the /admin/ API (one line); empty turns the API off.
    Re-read on SIGHUP."""


@dataclass(frozen=True)
class GcConfig:
    grace_seconds: float = 3600.0
    """`ocicache gc` keeps unreferenced blobs (and layer links) younger than this: a push in
    progress has uploaded blobs whose manifest is not there yet."""


def validate_ops(cfg: Any) -> None:
    """Checks for the sections above; called by config.validate."""
    if not isinstance(logging.getLevelName(cfg.log.level.upper()), int):
        raise ConfigError(f"[log] level: {cfg.log.level!r}: use DEBUG, INFO, WARNING or ERROR")
    if cfg.log.format not in LOG_FORMATS:
        raise ConfigError(f"[log] format: {cfg.log.format!r}: use json or text")
    if cfg.ops.shutdown_timeout < 0 or cfg.ops.ready_origin_timeout <= 0:
        raise ConfigError("[ops] shutdown_timeout must be 0 or more, ready_origin_timeout positive")
    if cfg.ops.ready_min_free_bytes < 0:
        raise ConfigError("[ops] ready_min_free_bytes: must be 0 or more")
    if cfg.gc.grace_seconds < 0:
        raise ConfigError("[gc] grace_seconds: must be 0 or more")
    if cfg.admin.token_file:
        read_admin_token(cfg.admin.token_file)


def read_admin_token(path: str) -> str:
    """The admin bearer secret from its file; ConfigError naming the file if unusable."""
    try:
        with open(path, encoding="utf-8") as fh:
            token = fh.read().strip()
    except OSError as exc:
        raise ConfigError(f"[admin] token_file: cannot read {path}: {exc.strerror or exc}") from None
    if len(token) < 16:
        raise ConfigError(f"[admin] token_file: {path} holds fewer than 16 characters; "
                          "write a long random secret (e.g. `openssl rand -hex 32`)")
    return token
