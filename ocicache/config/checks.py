"""`validate(cfg)`: every check `load` runs, and `ocicache config check` with it.

Access-control files are read and compiled here (the ACL, the htpasswd file, the token keys,
the TLS certificate): a wrong one is a ConfigError at start, never a 500 on a request.
"""
from __future__ import annotations

import ssl
from pathlib import Path

import yarl

from ..auth.acl import Acl, AclError
from ..auth.htpasswd import HtpasswdError, parse as parse_htpasswd
from ..auth.ratelimit import parse_networks
from ..auth.tls import server_context
from ..auth.tokenservice import KeyFileError, open_service
from .errors import ConfigError
from .ops import validate_ops
from .upstreams import realm_problem, validate_upstreams

PURGE_RETENTION_S = 3600.0
"""Seconds a purge journal entry is kept in the origin (cache/journal.py); every node must poll
well within it, so `[cache] purge_poll` is at most a sixth of it."""
MAX_PURGE_POLL = PURGE_RETENTION_S / 6
MAX_BACKLOG = 65535
"""The largest listen(2) backlog Linux takes (net.core.somaxconn's own ceiling)."""


def validate(cfg) -> None:
    try:
        host, port = cfg.listen_host_port
    except ValueError:
        raise ConfigError(f"[server] listen: {cfg.server.listen!r} is not HOST:PORT") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"[server] listen: port {port} is out of range")
    if cfg.server.workers < 0:
        raise ConfigError("[server] workers: must be 0 (one per core) or more")
    if not 1 <= cfg.server.backlog <= MAX_BACKLOG:
        raise ConfigError(f"[server] backlog: must be 1 to {MAX_BACKLOG} connections waiting to be accepted "
                          "(the kernel lowers it to net.core.somaxconn)")
    if cfg.cache.max_bytes < 1:
        raise ConfigError("[cache] max_bytes: must be a positive number of bytes")
    if not 0 < cfg.cache.low_watermark <= cfg.cache.high_watermark <= 1:
        raise ConfigError("[cache] watermarks: need 0 < low_watermark <= high_watermark <= 1")
    if cfg.storage.origin_timeout <= 0:
        raise ConfigError("[storage] origin_timeout: must be positive (seconds)")
    if cfg.cache.fill_retries < 0:
        raise ConfigError("[cache] fill_retries: must be 0 or more")
    if not 0 < cfg.cache.link_ttl <= 86400:
        raise ConfigError("[cache] link_ttl: must be more than 0 and at most 86400 seconds (a day)")
    if not 0 < cfg.cache.purge_poll <= MAX_PURGE_POLL:
        raise ConfigError(f"[cache] purge_poll: must be more than 0 and at most {MAX_PURGE_POLL:g} seconds "
                          f"(purge journal entries are kept {PURGE_RETENTION_S:g} s)")
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
        check_origin_credentials(cfg)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    check_access_control(cfg)


def check_origin_credentials(cfg) -> None:
    """`[origin]` credentials: readable, for a registry origin, token services that may get them."""
    o = cfg.origin
    credentials = o.credentials()
    registry = cfg.origin_url.startswith(("http://", "https://"))
    if (credentials or o.token_realms) and not registry:
        raise ValueError(f"[origin] username / token_realms: the origin {cfg.origin_url} is not a registry "
                         "(http(s)://...); only a registry origin takes credentials here ([s3] has its own keys)")
    host = yarl.URL(cfg.origin_url).host if registry else None
    for realm in o.token_realms:
        problem = realm_problem(realm, host)
        if problem:
            raise ValueError(f"[origin] token_realms: {realm!r}: {problem}")


def check_access_control(cfg) -> None:
    """Compile the ACL and read the key, htpasswd and TLS files (no side effects)."""
    try:
        parse_networks(cfg.ratelimit.trusted_proxies)
    except ValueError as exc:
        raise ConfigError(f"[ratelimit] trusted_proxies: {exc}") from None
    auth = cfg.auth
    if auth.enabled or auth.acl or auth.groups:
        try:
            if auth.htpasswd:
                parse_htpasswd(Path(auth.htpasswd))
            if auth.token_key:
                open_service(auth.token_key, auth.verify_keys, issuer=auth.issuer, service=auth.service,
                             ttl=auth.token_ttl)
            Acl(auth.acl, auth.groups)
        except (AclError, HtpasswdError, KeyFileError) as exc:
            raise ConfigError(f"[auth] {exc}") from None
    if cfg.tls.cert:
        try:
            server_context(cfg.tls.cert, cfg.tls.key)
        except OSError as exc:  # ssl.SSLError too: a certificate and key that do not load or match
            if not isinstance(exc, ssl.SSLError):
                reason = (exc.strerror or "cannot be read").lower()
            elif getattr(exc, "reason", None):
                reason = str(exc.reason).replace("_", " ").lower()  # KEY_VALUES_MISMATCH -> words
            else:
                reason = "not a PEM certificate and its key"
            raise ConfigError(f"[tls] cert {cfg.tls.cert} / key {cfg.tls.key}: {reason}; "
                              "give a PEM certificate chain and its unencrypted private key") from None
