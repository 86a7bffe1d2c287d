"""One typed, frozen config: defaults < TOML file < OCICACHE_<SECTION>_<KEY> environment < flags.

Validated once at start (`load`); derived values are computed here, never per request.
`ocicache config check FILE` runs the same validation without serving.
"""
from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping


class ConfigError(ValueError):
    """A configuration value is missing or wrong; the message names the key and the fix."""


@dataclass(frozen=True)
class ServerConfig:
    listen: str = "127.0.0.1:5000"
    """HOST:PORT to listen on; port 0 picks a free port."""
    workers: int = 0
    """Worker processes sharing the port (SO_REUSEPORT); 0 means one per CPU core."""
    sendfile: bool = True
    """Serve blob bodies with zero-copy sendfile where the transport allows it."""


@dataclass(frozen=True)
class StorageConfig:
    data_dir: str = "./data"
    """Folder for the embedded origin, the cache and upload staging."""
    origin: str = ""
    """Origin URL; empty means file://<data_dir>/origin (the embedded default)."""


@dataclass(frozen=True)
class CacheConfig:
    dir: str = ""
    """Folder of the local blob store; empty means <data_dir>/cache."""
    max_bytes: int = 10 * 1024 ** 3
    """Bytes the store may hold on disk; eviction keeps it under this."""
    high_watermark: float = 0.95
    """Eviction starts when the store passes this fraction of max_bytes..."""
    low_watermark: float = 0.85
    """...and removes least-recently-used blobs until it is under this fraction."""
    admit_fraction: float = 0.25
    """A blob larger than this fraction of max_bytes is kept only when asked for twice."""
    tag_ttl: float = 30.0
    """Seconds a tag -> digest answer is served before it is revalidated (HEAD)."""
    stale_if_error: float = 300.0
    """Seconds past tag_ttl a tag keeps serving while the origin fails."""
    negative_ttl: float = 5.0
    """Seconds an unknown tag is remembered as unknown."""
    fill_retries: int = 3
    """Times a fill resumes (by Range) after the origin connection breaks."""


@dataclass(frozen=True)
class LimitsConfig:
    max_manifest_bytes: int = 4 * 1024 * 1024
    """Manifests larger than this are refused with 413 SIZE_INVALID (the spec's 4 MiB)."""
    upload_chunk_bytes: int = 1024 * 1024
    """Bytes gathered before one hash-and-write call during uploads."""
    max_page: int = 1000
    """Largest `n` accepted by tag and catalog listings."""


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    cache: CacheConfig = field(default_factory=CacheConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)

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
    def worker_count(self) -> int:
        return self.server.workers or os.cpu_count() or 1

    @property
    def listen_host_port(self) -> tuple[str, int]:
        host, _, port = self.server.listen.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)

    def replace(self, **sections: Mapping[str, Any]) -> "Config":
        """A copy with some keys of some sections replaced: replace(storage={"data_dir": d})."""
        changed = {}
        for name, values in sections.items():
            changed[name] = _build_section(type(getattr(self, name)), name, values, getattr(self, name))
        cfg = dataclasses.replace(self, **changed)
        validate(cfg)
        return cfg


SECTIONS = {f.name: f.default_factory for f in dataclasses.fields(Config)}  # type: ignore[misc]


def _coerce(section: str, key: str, typ: Any, value: Any) -> Any:
    where = f"[{section}] {key}"
    if isinstance(value, str) and typ is not str:
        text = value.strip()
        if typ == "bool" or typ is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{where}: {value!r} is not a boolean (use true or false)")
        if typ == "float" or typ is float:
            try:
                return float(text)
            except ValueError:
                raise ConfigError(f"{where}: {value!r} is not a number") from None
        if typ == "int" or typ is int:
            try:
                return int(text.replace("_", ""))
            except ValueError:
                raise ConfigError(f"{where}: {value!r} is not a whole number") from None
    expected = {"int": int, "bool": bool, "str": str, "float": float}.get(typ, typ) if isinstance(typ, str) else typ
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected in (int, float) and isinstance(value, bool) or not isinstance(value, expected):
        raise ConfigError(f"{where}: expected {getattr(expected, '__name__', expected)}, got {value!r}")
    return value


def _build_section(cls: type, section: str, values: Mapping[str, Any], base: Any = None) -> Any:
    known = {f.name: f.type for f in dataclasses.fields(cls)}
    out = {}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"[{section}] {key}: unknown key; known keys are {', '.join(sorted(known))}")
        out[key] = _coerce(section, key, known[key], value)
    return dataclasses.replace(base, **out) if base is not None else cls(**out)


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for section, factory in SECTIONS.items():
        for f in dataclasses.fields(factory()):
            name = f"OCICACHE_{section.upper()}_{f.name.upper()}"
            if name in env:
                out.setdefault(section, {})[f.name] = env[name]
    return out


def validate(cfg: Config) -> None:
    try:
        host, port = cfg.listen_host_port
    except ValueError:
        raise ConfigError(f"[server] listen: {cfg.server.listen!r} is not HOST:PORT") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"[server] listen: port {port} is out of range")
    if cfg.server.workers < 0:
        raise ConfigError("[server] workers: must be 0 (one per core) or more")
    if cfg.cache.max_bytes < 1:
        raise ConfigError("[cache] max_bytes: must be a positive number of bytes")
    if not 0 < cfg.cache.low_watermark <= cfg.cache.high_watermark <= 1:
        raise ConfigError("[cache] watermarks: need 0 < low_watermark <= high_watermark <= 1")
    if cfg.cache.fill_retries < 0:
        raise ConfigError("[cache] fill_retries: must be 0 or more")
    if cfg.limits.max_manifest_bytes < 1024:
        raise ConfigError("[limits] max_manifest_bytes: must be at least 1024")
    if cfg.limits.upload_chunk_bytes < 4096:
        raise ConfigError("[limits] upload_chunk_bytes: must be at least 4096")
    if not cfg.origin_url.startswith(("file://", "http://", "https://")):
        raise ConfigError(f"[storage] origin: {cfg.origin_url!r}: use file:///path or http(s)://host[:port]")


def load(path: str | os.PathLike | None = None, *, env: Mapping[str, str] | None = None,
         overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Config:
    """Defaults, then the TOML file, then the environment, then explicit overrides (flags)."""
    layers: list[Mapping[str, Mapping[str, Any]]] = []
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        for section, values in data.items():
            if section not in SECTIONS or not isinstance(values, dict):
                raise ConfigError(f"{path}: unknown section [{section}]; known sections are "
                                  f"{', '.join(SECTIONS)}")
        layers.append(data)
    layers.append(_env_overrides(os.environ if env is None else env))
    if overrides:
        layers.append(overrides)
    sections = {name: factory() for name, factory in SECTIONS.items()}
    for layer in layers:
        for name, values in layer.items():
            if values:
                sections[name] = _build_section(type(sections[name]), name, values, sections[name])
    cfg = Config(**sections)
    validate(cfg)
    return cfg
