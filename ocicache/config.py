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

from .opsconfig import AdminConfig, GcConfig, LogConfig, OpsConfig, validate_ops
from .upstreamconfig import UpstreamsConfig, validate_upstreams


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
    origin_timeout: float = 60.0
    """Seconds an http(s) origin may stay silent (no response headers, no body bytes) before
    the request to it fails and is retried; a fill then resumes or fails cleanly."""


@dataclass(frozen=True)
class S3Config:
    """The S3 origin (`origin = "s3://bucket/prefix"`). Credentials left empty come from the
    usual boto3 chain (AWS_* environment, ~/.aws, instance role)."""
    endpoint_url: str = ""
    """S3-compatible endpoint (MinIO, R2, Ceph RGW, ...); empty means AWS (or AWS_ENDPOINT_URL)."""
    region: str = ""
    """Region name; empty means boto3's default (AWS_DEFAULT_REGION)."""
    addressing_style: str = "auto"
    """auto, path or virtual."""
    access_key_id: str = ""
    secret_access_key: str = ""
    max_connections: int = 32
    """Connection pool and thread pool size for S3 calls, per worker process."""
    part_bytes: int = 8 * 1024 * 1024
    """Multipart part size for write-through uploads (S3 needs at least 5 MiB)."""
    parts_in_flight: int = 2
    """Parts of one upload sent at once; memory per upload is about (this + 1) x part_bytes."""


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
    max_blob_bytes: int = 0
    """Uploads growing past this many bytes are refused with 413 SIZE_INVALID; 0 means no limit."""
    max_uploads_per_client: int = 256
    """Open upload sessions one identity (or one anonymous IP) may hold, per worker process."""
    upload_idle_timeout: float = 3600.0
    """Seconds an upload session may sit without a chunk before it is expired and its bytes removed."""
    max_url_bytes: int = 8190
    """Longest request line (method, URL, version) accepted; longer gets 414/400 from the server."""
    max_header_bytes: int = 8190
    """Longest single request header accepted."""
    max_headers: int = 100
    """Most request headers accepted."""
    idle_timeout: float = 30.0
    """Seconds a connection may stay idle, or take to send a request's headers (slowloris)."""
    body_timeout: float = 60.0
    """Seconds a request body may go without sending a byte before the request is dropped."""
    body_min_rate: int = 16384
    """Bytes per second a request body must average after `body_grace`: a body of N bytes has
    body_grace + N / body_min_rate seconds in all, then 408 and the connection is closed; 0: no deadline."""
    body_grace: float = 30.0
    """Seconds a request body may take before body_min_rate applies."""


@dataclass(frozen=True)
class AuthConfig:
    """Client authentication (docs/SECURITY.md). Off unless htpasswd or token_key is set."""

    htpasswd: str = ""
    """htpasswd file of bcrypt hashes (`user:$2y$...`); turns Basic authentication on."""
    token_key: str = ""
    """PEM key of the token service: a private key issues and verifies tokens, a public key
    only verifies them (a node of the fleet that sends clients to another node's realm)."""
    verify_keys: tuple[str, ...] = ()
    """More PEM public keys whose tokens are accepted (the old key while rotating)."""
    realm: str = ""
    """Public URL of the token service in the Bearer challenge; empty means <scheme>://<Host>/token."""
    service: str = "ocicache"
    """The `service` of the challenge and the `aud` of tokens; the same on every node of a fleet."""
    issuer: str = "ocicache"
    """The `iss` of tokens; the same on every node of a fleet."""
    token_ttl: int = 300
    """Seconds an issued token is valid."""
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Group name -> user names, for ACL rules naming `group:<name>`."""
    acl: tuple[dict[str, Any], ...] = ()
    """Rules {repository = "glob", who = [...], actions = [...]}; empty means authenticated users
    may pull and push everywhere. With rules, whatever no rule grants is denied."""

    @property
    def enabled(self) -> bool:
        return bool(self.htpasswd or self.token_key)


@dataclass(frozen=True)
class TLSConfig:
    cert: str = ""
    """PEM certificate chain; with key, the node serves HTTPS (HTTP/1.1 over TLS 1.2+)."""
    key: str = ""
    """PEM private key of the certificate."""


@dataclass(frozen=True)
class RateLimitConfig:
    """Token buckets per client IP and per authenticated identity, per worker process."""

    enabled: str = "auto"
    """auto (on when auth is on), true or false."""
    per_ip_rate: float = 100.0
    """Requests per second one client IP may sustain..."""
    per_ip_burst: int = 500
    """...and how many it may send at once."""
    per_identity_rate: float = 200.0
    """Requests per second one authenticated user may sustain..."""
    per_identity_burst: int = 1000
    """...and how many it may send at once."""
    auth_failures_per_minute: float = 30.0
    """Failed logins one client IP may make per minute (a burst of as many) before 429; the
    attempt is counted before the password is checked, and shared by the node's workers."""
    auth_failures_per_user_per_minute: float = 60.0
    """Failed logins per minute for one user name, from any address, before 429."""
    login_checks: int = 2
    """Password (bcrypt) checks running at once, per worker process; more wait their turn."""
    login_checks_per_ip: int = 1
    """Password checks one client IP may have running at once, per worker process."""
    trusted_proxies: tuple[str, ...] = ()
    """Peers (IPs or CIDRs) whose X-Forwarded-For names the client; others' is ignored."""


@dataclass(frozen=True)
class Config:
    server: ServerConfig = field(default_factory=ServerConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    s3: S3Config = field(default_factory=S3Config)
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
            changed[name] = _build_section(type(getattr(self, name)), name, values, getattr(self, name))
        cfg = dataclasses.replace(self, **changed)
        validate(cfg)
        return cfg


SECTIONS = {f.name: f.default_factory for f in dataclasses.fields(Config)}  # type: ignore[misc]


def _coerce_container(where: str, typ: str, value: Any) -> Any:
    """tuple[...] keys take a TOML array (or a comma-separated string from the environment);
    dict[...] keys take a TOML table. Their contents are checked by whoever compiles them."""
    if typ.startswith("tuple"):
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, (list, tuple)):
            return tuple(value)
        raise ConfigError(f"{where}: expected a list, got {value!r}")
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str):  # from the environment: name=value,name=value (in order)
        pairs = [part.partition("=") for part in value.split(",") if part.strip()]
        if all(sep and key.strip() for key, sep, _ in pairs):
            return {key.strip(): item.strip() for key, _, item in pairs}
    raise ConfigError(f"{where}: expected a table, got {value!r}")


def _coerce(section: str, key: str, typ: Any, value: Any) -> Any:
    where = f"[{section}] {key}"
    if isinstance(typ, str) and typ.startswith(("tuple", "dict")):
        return _coerce_container(where, typ, value)
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
    if cfg.storage.origin_timeout <= 0:
        raise ConfigError("[storage] origin_timeout: must be positive (seconds)")
    if cfg.cache.fill_retries < 0:
        raise ConfigError("[cache] fill_retries: must be 0 or more")
    if cfg.limits.max_manifest_bytes < 1024:
        raise ConfigError("[limits] max_manifest_bytes: must be at least 1024")
    if cfg.limits.upload_chunk_bytes < 4096:
        raise ConfigError("[limits] upload_chunk_bytes: must be at least 4096")
    if not cfg.origin_url.startswith(("file://", "http://", "https://", "s3://")):
        raise ConfigError(f"[storage] origin: {cfg.origin_url!r}: use file:///path, s3://bucket/prefix "
                          "or http(s)://host[:port]")
    if cfg.origin_url.startswith("s3://") and not cfg.origin_url[5:].split("/")[0]:
        raise ConfigError(f"[storage] origin: {cfg.origin_url!r} names no bucket (s3://bucket/prefix)")
    if cfg.s3.part_bytes < 5 * 1024 * 1024:
        raise ConfigError("[s3] part_bytes: S3 needs parts of at least 5 MiB (5242880)")
    if cfg.s3.addressing_style not in ("auto", "path", "virtual"):
        raise ConfigError("[s3] addressing_style: use auto, path or virtual")
    if cfg.limits.max_blob_bytes < 0 or cfg.limits.max_uploads_per_client < 1:
        raise ConfigError("[limits] max_blob_bytes must be 0 (no limit) or more; max_uploads_per_client 1 or more")
    if min(cfg.limits.upload_idle_timeout, cfg.limits.idle_timeout, cfg.limits.body_timeout) <= 0:
        raise ConfigError("[limits] upload_idle_timeout, idle_timeout and body_timeout must be positive")
    if cfg.limits.body_min_rate < 0 or cfg.limits.body_grace <= 0:
        raise ConfigError("[limits] body_min_rate must be 0 (no deadline) or more bytes/s; body_grace positive")
    if min(cfg.limits.max_url_bytes, cfg.limits.max_header_bytes) < 1024 or cfg.limits.max_headers < 16:
        raise ConfigError("[limits] max_url_bytes and max_header_bytes must be at least 1024, max_headers 16")
    if cfg.ratelimit.enabled.lower() not in ("auto", "true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ConfigError(f"[ratelimit] enabled: {cfg.ratelimit.enabled!r}: use auto, true or false")
    rl = cfg.ratelimit
    if min(rl.auth_failures_per_minute, rl.auth_failures_per_user_per_minute) < 1:
        raise ConfigError("[ratelimit] auth_failures_per_minute and auth_failures_per_user_per_minute: 1 or more")
    if min(rl.login_checks, rl.login_checks_per_ip) < 1:
        raise ConfigError("[ratelimit] login_checks and login_checks_per_ip: 1 or more")
    if bool(cfg.tls.cert) != bool(cfg.tls.key):
        raise ConfigError("[tls] cert and key: set both (HTTPS) or neither (plain HTTP)")
    validate_ops(cfg)
    try:
        validate_upstreams(cfg.upstreams)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    from .auth import check_config  # compiles the ACL and reads the key files: fails here, not per request

    check_config(cfg)


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
