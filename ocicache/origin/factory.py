"""The one factory that builds origins from the config: the only code that names their classes
(or, for a kind loaded by name, the module it names).

An origin kind whose library a node should load only when its config names that kind is listed
in LOADED_BY_NAME and imported by name when its first origin is built: a node serving a
directory or another registry never imports boto3 and botocore (about 10 MiB in each of its
processes; tests/test_lazy_imports.py checks a running node). Such a module sits in this package
like any other, so lint-imports checks what it imports.
"""
from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from ..config import ConfigError, OriginConfig, S3Config, UpstreamsConfig
from ..config.upstreams import read_credentials, token_realms_of
from .base import Origin
from .distribution import DistributionOrigin
from .fs import FilesystemOrigin
from .ratebudget import RateBudget
from .upstream_auth import ORIGIN_SETTINGS, UpstreamAuth

LOADED_BY_NAME = {"s3://": f"{__package__}.s3"}
"""URL prefix -> the module building that kind of origin (`open_bucket(url, S3Config)`), imported
the first time a config names it."""


def open_origin(url: str, s3: S3Config | None = None, timeout: float | None = None,
                settings: OriginConfig | None = None) -> Origin:
    """The origin named by a config URL: file:///path, s3://bucket/prefix or http(s)://host[:port].
    `timeout`: seconds an http(s) origin may stay silent (default: DistributionOrigin's); an
    http(s) origin takes pushes written through to it unless `settings.read_only`, and is asked
    with `settings`' credentials (Basic or the token flow; anonymously without them)."""
    settings = settings or OriginConfig()
    if url.startswith("s3://"):
        return kind_module("s3://").open_bucket(url, s3 or S3Config())
    if url.startswith("file://"):
        return FilesystemOrigin(Path(url[len("file://"):]))
    if url.startswith(("http://", "https://")):
        kwargs = {} if timeout is None else {"read_timeout": timeout}
        return DistributionOrigin(url, writable=not settings.read_only, auth=_origin_auth(url, settings),
                                  sessions_ahead=settings.sessions_ahead, **kwargs)
    raise ConfigError(f"origin {url!r}: unsupported scheme (use file:///path, s3://bucket/prefix or http(s)://host[:port])")


def kind_module(prefix: str) -> ModuleType:
    """The module of the origin kind of URLs starting with `prefix`, imported now if it was not."""
    return importlib.import_module(LOADED_BY_NAME[prefix])


def _origin_auth(url: str, settings: OriginConfig) -> UpstreamAuth:
    try:
        credentials = settings.credentials()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    return UpstreamAuth(f"origin {DistributionOrigin(url).base_url}", credentials, upstream_url=url,
                        trusted_realms=settings.token_realms, settings=ORIGIN_SETTINGS)


def open_upstream(name: str, url: str, c: UpstreamsConfig) -> DistributionOrigin:
    """A mirrored upstream registry (docs/MIRRORS.md): named in errors, with its credentials,
    token services and rate budget."""
    label = f"upstream {name} ({DistributionOrigin(url).base_url})"
    creds = read_credentials(name, c.credentials[name]) if name in c.credentials else None
    auth = UpstreamAuth(label, creds, name=name, upstream_url=url, trusted_realms=token_realms_of(c, name))
    return DistributionOrigin(url, name=name, auth=auth,
                              budget=RateBudget(label, c.rate_limit_reserve, c.rate_limit_retry_after),
                              connect_timeout=c.connect_timeout, read_timeout=c.read_timeout,
                              max_connections=c.max_connections, retries=c.retries)
