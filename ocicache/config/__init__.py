"""One typed, frozen config: defaults < TOML file < OCICACHE_<SECTION>_<KEY> environment < flags.

Validated once at start (`load`); derived values are computed here, never per request.
`ocicache config check FILE` runs the same validation without serving.

    errors.py     ConfigError (a leaf: imports nothing of ocicache)
    sections.py   [server] [storage] [origin] [s3] [cache] [limits] [auth] [tls] [ratelimit]
    ops.py        [log] [ops] [admin] [gc]
    upstreams.py  [upstreams] (mirrored registries)
    model.py      Config: the sections and the values derived from them
    coerce.py     TOML values, environment strings and flags -> typed keys
    checks.py     validate(cfg), access-control files included
    load.py       load(path, env, overrides, flags): errors name the variable, file or flag
    summary.py    what a node with this config would run, in words (config check, start-up line)
"""
from .checks import validate
from .errors import ConfigError
from .load import load
from .model import SECTIONS, Config
from . import summary
from .ops import AdminConfig, GcConfig, LogConfig, OpsConfig, read_admin_token
from .sections import (AuthConfig, CacheConfig, LimitsConfig, OriginConfig, RateLimitConfig, S3Config,
                       ServerConfig, StorageConfig, TLSConfig)
from .upstreams import UpstreamsConfig

__all__ = ["SECTIONS", "AdminConfig", "AuthConfig", "CacheConfig", "Config", "ConfigError", "GcConfig",
           "LimitsConfig", "LogConfig", "OpsConfig", "OriginConfig", "RateLimitConfig", "S3Config", "ServerConfig",
           "StorageConfig", "TLSConfig", "UpstreamsConfig", "load", "read_admin_token", "summary", "validate"]
