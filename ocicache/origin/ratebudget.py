"""Keeping a node under an upstream's pull limit, before the upstream bans its address.

Docker Hub counts manifest GETs (not HEADs) and reports what is left in
`RateLimit-Remaining: <n>;w=<window seconds>` on its answers. `RateBudget`:
- remembers the last remaining count; while it is at or below `reserve` (for up to
  `retry_after` seconds, then the upstream is asked again), a manifest GET is refused here
  with 429 TOOMANYREQUESTS and Retry-After, naming the upstream; HEADs and blobs go on;
- after the upstream itself answers 429, refuses every request for its Retry-After.
Callers that hold a stale answer (the TagCache) serve it instead of the 429.
"""
from __future__ import annotations

import math
import re
import time
from typing import Callable, Mapping

from .. import errors
from ..errors import OCIError

_REMAINING_RE = re.compile(r"\s*(\d+)")
_MANIFEST_RE = re.compile(r"/v2/.+/manifests/[^/]+")


class RateBudget:
    def __init__(self, label: str, reserve: int, retry_after: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.label = label
        self.reserve = reserve
        self.retry_after = retry_after
        self._clock = clock
        self.remaining: int | None = None
        self._seen_at = 0.0
        self._banned_until = 0.0

    def observe(self, headers: Mapping[str, str]) -> None:
        """Note `RateLimit-Remaining` from an upstream answer."""
        match = _REMAINING_RE.match(headers.get("RateLimit-Remaining", ""))
        if match:
            self.remaining, self._seen_at = int(match.group(1)), self._clock()

    def throttled(self, delay: float, url: str) -> OCIError:
        """The upstream answered 429: refuse everything for `delay` seconds."""
        self._banned_until = max(self._banned_until, self._clock() + delay)
        return self._too_many(delay, f"it answered 429 to {url}")

    def check(self, method: str, path: str) -> None:
        """Raise 429 TOOMANYREQUESTS if this request would spend what the upstream allows."""
        now = self._clock()
        if now < self._banned_until:
            self._raise(self._banned_until - now, "it answered 429 recently")
        if method != "GET" or not _MANIFEST_RE.fullmatch(path) or self.remaining is None:
            return
        left = self._seen_at + self.retry_after - now
        if self.remaining <= self.reserve and left > 0:
            self._raise(left, f"its RateLimit-Remaining is {self.remaining}, at or below the "
                        f"reserve of {self.reserve} ([upstreams] rate_limit_reserve)")

    def _too_many(self, delay: float, why: str) -> OCIError:
        seconds = max(1, math.ceil(delay))
        return OCIError(errors.TOOMANYREQUESTS, f"{self.label} is rate-limiting this node: {why}; "
                        f"retry after {seconds} s", headers={"Retry-After": str(seconds)})

    def _raise(self, delay: float, why: str) -> None:
        raise self._too_many(delay, why)
