"""Access control for the node: who may pull, push and delete what, and how often.

`install(app, cfg)` adds, in order, the per-IP rate limit, authentication (Basic or
bearer token) and the upload-session quota, and the `/token` routes when this node can
issue tokens. With no `[auth]` key set nothing is checked and nothing is asked: the node
behaves as an open registry. The config's validation (config/checks.py) compiles the ACL and
reads the htpasswd, key and TLS files at start with the parsers here; this package imports
nothing of the config, the registry or ocicache.http (it is handed config values). Routing asks `guard.authorize` for each request's scope.
See docs/SECURITY.md.
"""
from __future__ import annotations

from aiohttp import web

from .endpoint import add_token_routes
from .guard import GATE
from .middleware import Authenticator, authenticate
from .quota import upload_quota
from .ratelimit import IP_BUCKETS, TokenBuckets, ip_limiter, parse_networks


def install(app: web.Application, cfg) -> None:
    trusted = parse_networks(cfg.ratelimit.trusted_proxies)
    if cfg.ratelimit_enabled:
        buckets = app[IP_BUCKETS] = TokenBuckets(cfg.ratelimit.per_ip_rate, cfg.ratelimit.per_ip_burst)
        app.middlewares.append(ip_limiter(cfg.ratelimit.per_ip_rate, cfg.ratelimit.per_ip_burst, trusted, buckets))
    if cfg.auth.enabled:
        gate = Authenticator(cfg, trusted)
        app[GATE] = gate
        app.middlewares.append(authenticate)
        if gate.tokens is not None and gate.tokens.can_issue:
            add_token_routes(app)
    app.middlewares.append(upload_quota(cfg.limits.max_uploads_per_client, cfg.limits.upload_idle_timeout, trusted))
