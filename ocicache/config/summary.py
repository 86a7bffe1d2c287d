"""What a node with this config would run, in words: `ocicache config check` prints it and the
start-up log line says the same (listen, workers, origin, upstreams, cache, auth, TLS, admin
API, logs), plus the warnings an operator should see before serving.
"""
from __future__ import annotations

import ipaddress
import os
from typing import Any

import yarl


def size(n: int) -> str:
    """Bytes for a person: `465.7 GiB (500000000000 bytes)`."""
    value, unit = float(n), "bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if value < 1024 or unit == "PiB":
            break
        value /= 1024
    return f"{n} bytes" if unit == "bytes" else f"{value:.1f} {unit} ({n} bytes)"


def _origin(cfg: Any) -> str:
    if cfg.pure_mirror:
        first = next(iter(cfg.upstreams.registries))
        return f"none: a pure mirror (requests naming no upstream go to {first})"
    url = cfg.origin_url
    if url.startswith("s3://"):
        bucket, _, prefix = url[5:].partition("/")
        endpoint = cfg.s3.endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or "AWS"
        region = cfg.s3.region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "default"
        credentials = "[s3] access keys" if cfg.s3.access_key_id else "the AWS credential chain"
        return (f"{url} (bucket {bucket}, prefix {prefix.strip('/') or 'none'}, endpoint {endpoint}, "
                f"region {region}, {cfg.s3.addressing_style} addressing, credentials from {credentials})")
    if url.startswith("file://"):
        return f"{url} (a local directory, served from its own files)"
    o = cfg.origin
    pushes = "pushes refused ([origin] read_only)" if o.read_only else "pushes written through to it"
    secret = f"password from {o.password_file}" if o.password_file else "password in [origin] password"
    who = f"as user {o.username} ({secret})" if o.username else "anonymously"
    return f"{url} (a registry, read through the cache, {who}; {pushes})"


def _upstreams(cfg: Any) -> str:
    up = cfg.upstreams
    if not up.registries:
        return "none"
    parts = []
    for name, url in up.registries.items():
        extra = [f"alias {a}" for a, target in up.aliases.items() if target == name]
        if name in up.credentials:
            extra.append("with credentials")
        parts.append(f"{name}={url}" + (f" ({', '.join(extra)})" if extra else ""))
    allow = f"; allowed: {', '.join(up.allow)}" if up.allow else "; every repository allowed"
    return ", ".join(parts) + allow


def _cache(cfg: Any) -> str:
    if not cfg.keeps_cache:
        return "none (a file:// origin is served from its own files)"
    c = cfg.cache
    return (f"{cfg.cache_path}, budget {size(c.max_bytes)}, evicting from {c.high_watermark:.0%} to "
            f"{c.low_watermark:.0%}; tags revalidated after {c.tag_ttl:g} s")


def _auth(cfg: Any) -> str:
    a = cfg.auth
    rules = f"{len(a.acl)} ACL rule{'s' if len(a.acl) != 1 else ''}" if a.acl else \
        "no ACL (authenticated users pull and push everywhere)"
    if not a.enabled:
        return "off (an open registry)" + (f", but {rules} set: they are not enforced" if a.acl else "")
    parts = []
    if a.htpasswd:
        parts.append(f"users from {a.htpasswd}")
    if a.token_key:
        parts.append(f"tokens with {a.token_key}")
    ratelimit = "rate limits on" if cfg.ratelimit_enabled else "rate limits off"
    return f"on: {', '.join(parts)}; {rules}; {ratelimit}"


def lines(cfg: Any) -> list[tuple[str, str]]:
    """(what, how) pairs, in the order an operator checks them."""
    host, port = cfg.listen_host_port
    scheme = "https" if cfg.tls.cert else "http"
    workers = f"{cfg.worker_count}" + (" (one per core)" if not cfg.server.workers else "")
    return [
        ("listen", f"{scheme}://{cfg.server.listen}"),
        ("workers", workers),
        ("origin", _origin(cfg)),
        ("upstreams", _upstreams(cfg)),
        ("cache", _cache(cfg)),
        ("data dir", str(cfg.data_path)),
        ("auth", _auth(cfg)),
        ("tls", f"on: {cfg.tls.cert}" if cfg.tls.cert else "off (plain HTTP)"),
        ("admin API", f"on: secret in {cfg.admin.token_file}" if cfg.admin.token_file else "off"),
        ("logs", f"{cfg.log.format} at {cfg.log.level.upper()}, access log {'on' if cfg.log.access else 'off'}"),
    ]


def one_line(cfg: Any, skip: tuple[str, ...] = ()) -> str:
    """The same, for the start-up log line: `listen http://...; workers 2; origin ...; ...`."""
    return "; ".join(f"{what} {how}" for what, how in lines(cfg) if what not in skip)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def warnings(cfg: Any, host: str | None = None) -> list[str]:
    """What an operator should fix or know before this node takes traffic (`host`: where it
    listens, default the configured one)."""
    out = []
    host = cfg.listen_host_port[0] if host is None else host
    if cfg.auth.acl and not cfg.auth.enabled:
        out.append(f"{len(cfg.auth.acl)} [[auth.acl]] rules are set but no authentication is: anyone may "
                   "pull, push and delete; set [auth] htpasswd (and token_key) to enforce them")
    elif (cfg.auth.groups and not cfg.auth.enabled):
        out.append("[auth.groups] are set but no authentication is; set [auth] htpasswd to use them")
    if not _loopback(host) and not cfg.tls.cert:
        if not cfg.auth.enabled:
            out.append(f"serving plain HTTP on {host} with no authentication: anyone who reaches this address "
                       "may pull, push and delete; see docs/SECURITY.md ([auth], [tls])")
        else:
            out.append(f"serving plain HTTP on {host} with authentication on: passwords and tokens cross the "
                       "network in clear; put TLS in front or set [tls] cert and key")
    origin = cfg.storage.origin
    if cfg.origin.username and origin.startswith("http://") and not _loopback(yarl.URL(origin).host or ""):
        out.append(f"[origin] username: the password for {origin} crosses the network in clear (plain http); "
                   "use the origin's https URL")
    if origin and yarl.URL(origin).host and yarl.URL(origin).host.endswith((".example", ".example.net",
                                                                          ".example.com", ".invalid")):
        out.append(f"[storage] origin {origin} is the shipped placeholder: set it to your origin")
    return out
