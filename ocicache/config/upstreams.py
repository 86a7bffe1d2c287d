"""The `[upstreams]` config section: registries a node mirrors read-only (docs/MIRRORS.md).

Part of the one frozen `Config` (config/model.py); every key also reads from
`OCICACHE_UPSTREAMS_<KEY>` (tables as `name=value,name=value`), and `serve --upstream NAME=URL`
(repeatable) sets `registries`.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yarl

# Docker Hub's names: a one-component repository there is an official image under `library/`.
DOCKER_HUB_NAMES = frozenset(("docker.io", "index.docker.io", "registry-1.docker.io"))
_NAME_RE = re.compile(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?")


@dataclass(frozen=True)
class UpstreamsConfig:
    registries: dict[str, str] = field(default_factory=dict)
    """Upstream name (the registry host clients name, e.g. `docker.io`) -> its API URL
    (`https://registry-1.docker.io`). In order: with no `[storage] origin` the node is a pure
    mirror and a request naming no upstream goes to the first one."""
    aliases: dict[str, str] = field(default_factory=dict)
    """Host header (without port) -> upstream name: `ghcr.mirror.example = "ghcr.io"`."""
    credentials: dict[str, str] = field(default_factory=dict)
    """Upstream name -> `user:password`, or `@/path/file` holding `user:password`; used for Basic
    auth and for token requests. Upstreams without an entry are used anonymously."""
    token_realms: dict[str, Any] = field(default_factory=dict)
    """Upstream name -> token services (`https://auth.example`, a list, or space-separated) that
    may receive its credentials besides the upstream's own scheme://host:port. Built in:
    Docker Hub (registry-1.docker.io -> https://auth.docker.io), GitLab (registry.gitlab.com ->
    https://gitlab.com). Plain http only on the upstream's own host. docs/SECURITY.md."""
    allow: tuple[str, ...] = ()
    """Glob patterns of `<upstream>/<repository>` that may be pulled (`docker.io/library/*`);
    empty means every repository of every configured upstream."""
    max_connections: int = 16
    """Connections per upstream, per worker process."""
    connect_timeout: float = 10.0
    """Seconds to connect to an upstream."""
    read_timeout: float = 60.0
    """Seconds an upstream may go without sending a byte."""
    retries: int = 3
    """Retries (with backoff) after connection errors and 5xx."""
    rate_limit_reserve: int = 5
    """Manifest GETs stop when an upstream's `RateLimit-Remaining` falls to this; clients get
    429 with Retry-After (or a stale tag) instead of the node's address being banned."""
    rate_limit_retry_after: float = 60.0
    """Seconds a low `RateLimit-Remaining` is trusted before the upstream is asked again; the
    Retry-After clients are given meanwhile."""


def read_credentials(name: str, value: str) -> tuple[str, str]:
    """(user, password) from `user:password` or `@file`; ValueError naming the upstream."""
    text = value
    if value.startswith("@"):
        try:
            text = Path(value[1:]).read_text().strip()
        except OSError as exc:
            raise ValueError(f"[upstreams] credentials.{name}: {value[1:]}: {exc.strerror or exc}") from None
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise ValueError(f"[upstreams] credentials.{name}: expected user:password or @file")
    return user, password


def token_realms_of(cfg: UpstreamsConfig, name: str) -> tuple[str, ...]:
    """The token services listed for upstream `name` (a list, or one space-separated string)."""
    value = cfg.token_realms.get(name, ())
    items = value.split() if isinstance(value, str) else list(value)
    return tuple(str(item).strip().rstrip("/") for item in items if str(item).strip())


def _validate_realms(cfg: UpstreamsConfig) -> None:
    for name, value in cfg.token_realms.items():
        where = f"[upstreams] token_realms.{name}"
        if name not in cfg.registries:
            raise ValueError(f"{where}: upstream {name!r} is not in [upstreams] registries "
                             f"({', '.join(cfg.registries) or 'none configured'})")
        if not isinstance(value, (str, list, tuple)) or not all(isinstance(v, str) for v in
                                                                 ([value] if isinstance(value, str) else value)):
            raise ValueError(f"{where}: expected a list of URLs like [\"https://auth.example\"]")
        upstream_host = yarl.URL(str(cfg.registries[name])).host
        for realm in token_realms_of(cfg, name):
            problem = realm_problem(realm, upstream_host)
            if problem:
                raise ValueError(f"{where}: {realm!r}: {problem}")


def realm_problem(realm: str, registry_host: str | None) -> str | None:
    """Why `realm` cannot be listed as a token service of the registry on `registry_host`
    (`[upstreams] token_realms`, `[origin] token_realms`); None if it can."""
    url = yarl.URL(realm)
    if url.scheme not in ("http", "https") or not url.host:
        return "expected https://host[:port]"
    if url.scheme == "http" and url.host != registry_host:
        return "credentials would cross the network in clear to another host; use the token service's https URL"
    return None


def allow_patterns(cfg: UpstreamsConfig) -> tuple[re.Pattern[str], ...]:
    return tuple(re.compile(fnmatch.translate(p)) for p in cfg.allow)


def validate_upstreams(cfg: UpstreamsConfig) -> None:
    """Raise ValueError naming the key and the fix; config.validate wraps it in ConfigError."""
    for name, url in cfg.registries.items():
        if not _NAME_RE.fullmatch(name):
            raise ValueError(f"[upstreams] registries: {name!r} is not a registry host name "
                             "(e.g. docker.io, ghcr.io, registry.example:5000)")
        parsed = yarl.URL(str(url))
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(f"[upstreams] registries.{name}: {url!r}: expected http(s)://host[:port]")
    for table in ("aliases", "credentials"):
        for name, value in getattr(cfg, table).items():
            target = value if table == "aliases" else name
            if target not in cfg.registries:
                raise ValueError(f"[upstreams] {table}.{name}: upstream {target!r} is not in "
                                 f"[upstreams] registries ({', '.join(cfg.registries) or 'none configured'})")
    for name, value in cfg.credentials.items():
        read_credentials(name, value)
    _validate_realms(cfg)
    if cfg.max_connections < 1 or cfg.retries < 0 or cfg.rate_limit_reserve < 0:
        raise ValueError("[upstreams] max_connections must be 1 or more; retries and rate_limit_reserve 0 or more")
    if min(cfg.connect_timeout, cfg.read_timeout, cfg.rate_limit_retry_after) <= 0:
        raise ValueError("[upstreams] connect_timeout, read_timeout and rate_limit_retry_after must be positive")


def parse_flag(values: list[str] | None) -> dict[str, Any]:
    """`--upstream NAME=URL` (repeatable) -> the registries table, in order."""
    out: dict[str, str] = {}
    for value in values or []:
        name, sep, url = value.partition("=")
        if not sep or not name or not url:
            raise ValueError(f"--upstream {value!r}: expected NAME=URL, e.g. docker.io=https://registry-1.docker.io")
        out[name.strip()] = url.strip()
    return out
