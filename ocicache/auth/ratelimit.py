"""Token buckets per client IP and per identity; 429 TOOMANYREQUESTS with Retry-After.

The client IP is the connection's peer, or, when the peer is a configured trusted proxy,
the right-most address of `X-Forwarded-For` that is not itself a trusted proxy (the left
part of that header is whatever the client wrote). Buckets live in the worker process:
with N workers a client may get up to N times the rate, and a restart refills them.
Requests the HTTP parser refuses take from the same buckets (http/protocol.py). Failed
logins have a budget of their own, shared by the workers (loginbudget.py).
"""
from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from typing import Iterable

from aiohttp import web

from .. import errors
from ..errors import OCIError
from .guard import request_key

CLIENT_IP = request_key("client_ip", str)
MAX_KEYS = 100_000


class TokenBuckets:
    """`burst` tokens per key, refilled at `rate` per second; least recently used keys are
    forgotten past MAX_KEYS (a forgotten key starts full, which only ever errs toward allowing)."""

    def __init__(self, rate: float, burst: float, max_keys: int = MAX_KEYS) -> None:
        self.rate, self.burst, self.max_keys = float(rate), float(burst), max_keys
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _level(self, key: str, now: float) -> float:
        tokens, stamp = self._state.get(key, (self.burst, now))
        return min(self.burst, tokens + (now - stamp) * self.rate)

    def wait(self, key: str, now: float | None = None) -> float:
        """Seconds until `key` has a token (0 when it has one now); takes nothing."""
        now = time.monotonic() if now is None else now
        level = self._level(key, now)
        return 0.0 if level >= 1 else (1 - level) / self.rate

    def take(self, key: str, now: float | None = None) -> float:
        """Take a token: 0 when taken, else the seconds to wait (nothing taken)."""
        now = time.monotonic() if now is None else now
        level = self._level(key, now)
        if level < 1:
            self._state[key] = (level, now)
            self._state.move_to_end(key)
            return (1 - level) / self.rate
        self._state[key] = (level - 1, now)
        self._state.move_to_end(key)
        if len(self._state) > self.max_keys:
            self._state.popitem(last=False)
        return 0.0

    def give(self, key: str, now: float | None = None) -> None:
        """Give a token back (never above the burst)."""
        now = time.monotonic() if now is None else now
        self._state[key] = (min(self.burst, self._level(key, now) + 1), now)


def too_many(what: str, wait: float) -> OCIError:
    seconds = max(1, math.ceil(wait))
    return OCIError(errors.TOOMANYREQUESTS, f"too many requests from {what}; retry in {seconds} s",
                    headers={"Retry-After": str(seconds)})


def parse_networks(values: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values)


def _ip(text: str):
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def client_ip(request: web.Request, trusted: tuple = ()) -> str:
    cached = request.get(CLIENT_IP)
    if cached is not None:
        return cached
    peer = request.remote or ""
    result = peer
    peer_ip = _ip(peer)
    if trusted and peer_ip is not None and any(peer_ip in net for net in trusted):
        hops = ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")
        for hop in reversed(hops):
            ip = _ip(hop)
            if ip is None:
                break
            result = str(ip)
            if not any(ip in net for net in trusted):
                break
    request[CLIENT_IP] = result
    return result


IP_BUCKETS = web.AppKey("ip_buckets", TokenBuckets)  # also counts requests the parser refuses


def ip_limiter(rate: float, burst: int, trusted: tuple, buckets: TokenBuckets | None = None) -> web.middleware:
    buckets = buckets if buckets is not None else TokenBuckets(rate, burst)

    @web.middleware
    async def limit_per_ip(request: web.Request, handler) -> web.StreamResponse:
        ip = client_ip(request, trusted)
        wait = buckets.take(ip)
        if wait:
            raise too_many(f"client {ip}", wait)
        return await handler(request)

    return limit_per_ip
