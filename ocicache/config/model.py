"""`Config`: the one typed, frozen configuration (its sections and the values derived from them)."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .checks import validate
from .coerce import build_section
from .ops import AdminConfig, GcConfig, LogConfig, OpsConfig
from .sections import (AuthConfig, CacheConfig, LimitsConfig, OriginConfig, RateLimitConfig, S3Config,
                       ServerConfig, StorageConfig, TLSConfig)
from .upstreams import UpstreamsConfig


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    s3: S3Config = field(default_factory=S3Config)
    origin: OriginConfig = field(default_factory=OriginConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    auth: AuthConfig = field(default_factory=AuthConfig)
    tls: TLSConfig = field(default_factory=TLSConfig)
    ratelimit: RateLimitConfig = field(default_factory=RateLimitConfig)
    log: LogConfig = field(default_factory=LogConfig)
    ops: OpsConfig = field(default_factory=OpsConfig)
    admin: AdminConfig = field(default_factory=AdminConfig)
    gc: GcConfig = field(default_factory=GcConfig)
    upstreams: UpstreamsConfig = field(default_factory=UpstreamsConfig)

    # ---- derived values ----
    @property
    def data_path(self) -> Path:
        return Path(self.storage.data_dir).resolve()

    @property
    def origin_url(self) -> str:
        return self.storage.origin or (self.data_path / "origin").as_uri()

    @property
    def cache_path(self) -> Path:
        return Path(self.cache.dir).resolve() if self.cache.dir else self.data_path / "cache"

    @property
    def origin_is_local(self) -> bool:
        """A file:// origin is served from its own files: no cache in front of it."""
        return self.origin_url.startswith("file://")

    @property
    def pure_mirror(self) -> bool:
        """Upstreams and no [storage] origin: a request naming no upstream goes to the first."""
        return bool(self.upstreams.registries) and not self.storage.origin

    @property
    def keeps_cache(self) -> bool:
        """Whether a local blob store exists (a remote origin, or any mirrored upstream)."""
        return not self.origin_is_local or bool(self.upstreams.registries)

    @property
    def worker_count(self) -> int:
        return self.server.workers or os.cpu_count() or 1

    @property
    def listen_host_port(self) -> tuple[str, int]:
        host, _, port = self.server.listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)

    @property
    def ratelimit_enabled(self) -> bool:
        mode = self.ratelimit.enabled.lower()
        return mode in ("true", "1", "yes", "on") or (mode == "auto" and self.auth.enabled)

    def replace(self, **sections: Mapping[str, Any]) -> "Config":
        """A copy with some keys of some sections replaced: replace(storage={"data_dir": d})."""
        changed = {}
        for name, values in sections.items():
            changed[name] = build_section(type(getattr(self, name)), name, values, getattr(self, name))
        cfg = dataclasses.replace(self, **changed)
        validate(cfg)
        return cfg


SECTIONS = {f.name: f.default_factory for f in dataclasses.fields(Config)}  # type: ignore[misc]
