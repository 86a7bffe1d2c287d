"""The one factory that builds origins from the config: the only code that names their classes."""
from __future__ import annotations

from pathlib import Path

from ..config import ConfigError, OriginConfig, S3Config, UpstreamsConfig
from ..config.upstreams import read_credentials, token_realms_of
from .base import Origin
from .distribution import DistributionOrigin
from .fs import FilesystemOrigin
from .ratebudget import RateBudget
from .s3 import S3Origin
from .s3client import S3Settings
from .upstream_auth import ORIGIN_SETTINGS, UpstreamAuth


def open_origin(url: str, s3: S3Config | None = None, timeout: float | None = None,
                settings: OriginConfig | None = None) -> Origin:
    """The origin named by a config URL: file:///path, s3://bucket/prefix or http(s)://host[:port].
    `timeout`: seconds an http(s) origin may stay silent (default: DistributionOrigin's); an
    http(s) origin takes pushes written through to it unless `settings.read_only`, and is asked
    with `settings`' credentials (Basic or the token flow; anonymously without them)."""
    settings = settings or OriginConfig()
    if url.startswith("s3://"):
        c = s3 or S3Config()
        bucket, _, prefix = url[len("s3://"):].partition("/")
        return S3Origin(S3Settings(bucket, prefix, c.endpoint_url or None, c.region or None, c.addressing_style,
                                   c.access_key_id or None, c.secret_access_key or None, c.max_connections),
                        part_bytes=c.part_bytes, parts_in_flight=c.parts_in_flight)
    if url.startswith("file://"):
        return FilesystemOrigin(Path(url[len("file://"):]))
    if url.startswith(("http://", "https://")):
        kwargs = {} if timeout is None else {"read_timeout": timeout}
        return DistributionOrigin(url, writable=not settings.read_only, auth=_origin_auth(url, settings), **kwargs)
    raise ConfigError(f"origin {url!r}: unsupported scheme (use file:///path, s3://bucket/prefix or http(s)://host[:port])")


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
