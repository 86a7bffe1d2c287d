"""Access control for the node: who may pull, push and delete what, and how often.

`install(app, cfg)` adds, in order, the per-IP rate limit, authentication (Basic or
bearer token) and the upload-session quota, and the `/token` routes when this node can
issue tokens. With no `[auth]` key set nothing is checked and nothing is asked: the node
behaves as an open registry. Routing asks `guard.authorize` for each request's scope.
See docs/SECURITY.md.
"""
from __future__ import annotations

import ssl

from aiohttp import web

from .acl import AclError
from .guard import GATE
from .htpasswd import HtpasswdError
from .ratelimit import ip_limiter, parse_networks
from .tokens import KeyFileError


def check_config(cfg) -> None:
    """Compile the ACL and read the key, htpasswd and TLS files: a ConfigError now, not a 500 later."""
    from ..config import ConfigError
    from .middleware import Authenticator
    from .tls import server_context

    try:
        parse_networks(cfg.ratelimit.trusted_proxies)
    except ValueError as exc:
        raise ConfigError(f"[ratelimit] trusted_proxies: {exc}") from None
    if cfg.auth.enabled or cfg.auth.acl or cfg.auth.groups:
        try:
            Authenticator(cfg)
        except (AclError, HtpasswdError, KeyFileError) as exc:
            raise ConfigError(f"[auth] {exc}") from None
    if cfg.tls.cert:
        try:
            server_context(cfg.tls.cert, cfg.tls.key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"[tls] cert {cfg.tls.cert} / key {cfg.tls.key}: {exc}") from None


def install(app: web.Application, cfg) -> None:
    from .endpoint import add_token_routes
    from .middleware import Authenticator, authenticate
    from .quota import upload_quota

    trusted = parse_networks(cfg.ratelimit.trusted_proxies)
    if cfg.ratelimit_enabled:
        app.middlewares.append(ip_limiter(cfg.ratelimit.per_ip_rate, cfg.ratelimit.per_ip_burst, trusted))
    if cfg.auth.enabled:
        gate = Authenticator(cfg, trusted)
        app[GATE] = gate
        app.middlewares.append(authenticate)
        if gate.tokens is not None and gate.tokens.can_issue:
            add_token_routes(app)
    app.middlewares.append(upload_quota(cfg.limits.max_uploads_per_client, cfg.limits.upload_idle_timeout, trusted))
