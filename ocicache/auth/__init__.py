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

from typing import Callable

from aiohttp import web

from .endpoint import add_token_routes
from .guard import GATE
from .middleware import Authenticator, authenticate
from .quota import upload_quota
from .ratelimit import IP_BUCKETS, TokenBuckets, ip_limiter, parse_networks


def install(app: web.Application, cfg) -> Callable[[object], Callable[[], None]]:
    """Add the middlewares; returns the SIGHUP hook: given the new config it builds the new
    users, keys and ACL (raising if one is unusable), and returns the swap that applies them
    and the new rate limits and trusted proxies in place. Turning authentication or the rate
    limits on or off, or the token service's key from none to some, needs a restart."""
    trusted = list(parse_networks(cfg.ratelimit.trusted_proxies))  # one list, updated in place
    buckets = None
    if cfg.ratelimit_enabled:
        buckets = app[IP_BUCKETS] = TokenBuckets(cfg.ratelimit.per_ip_rate, cfg.ratelimit.per_ip_burst)
        app.middlewares.append(ip_limiter(cfg.ratelimit.per_ip_rate, cfg.ratelimit.per_ip_burst, trusted, buckets))
    gate = None
    if cfg.auth.enabled:
        gate = Authenticator(cfg, trusted)
        app[GATE] = gate
        app.middlewares.append(authenticate)
        if gate.tokens is not None and gate.tokens.can_issue:
            add_token_routes(app)
    app.middlewares.append(upload_quota(cfg.limits.max_uploads_per_client, cfg.limits.upload_idle_timeout, trusted))

    def prepare(new) -> Callable[[], None]:
        networks = parse_networks(new.ratelimit.trusted_proxies)
        same_auth = gate is not None and new.auth.enabled and bool(new.auth.token_key) == (gate.tokens is not None)
        swap_gate = gate.prepare_reload(new) if same_auth else None

        def apply() -> None:
            trusted[:] = networks
            if buckets is not None and new.ratelimit_enabled:
                buckets.rate, buckets.burst = float(new.ratelimit.per_ip_rate), float(new.ratelimit.per_ip_burst)
            if swap_gate is not None:
                swap_gate()
        return apply

    return prepare
