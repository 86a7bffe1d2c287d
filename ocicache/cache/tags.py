"""Tag -> digest answers kept in memory for a short TTL (tags are mutable).

A fresh entry is served as is; a stale one is revalidated against the origin (a cheap
HEAD); when the origin fails, a stale entry keeps serving for `stale_if_error` seconds
more. Unknown tags are remembered for `negative_ttl` seconds.
"""
from __future__ import annotations

import logging
import time
from typing import Awaitable, Callable, Hashable

from cachetools import LRUCache

from .. import errors
from ..errors import OCIError
from ..reference import Digest
from .singleflight import SingleFlight

log = logging.getLogger("ocicache.tags")


class TagCache:
    def __init__(self, ttl: float, stale_if_error: float, negative_ttl: float, maxsize: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl, self.stale_if_error, self.negative_ttl = ttl, stale_if_error, negative_ttl
        # key -> (digest, when), or (the origin's "unknown" error, when) for a negative answer
        self._entries: LRUCache[Hashable, tuple[Digest | OCIError, float]] = LRUCache(maxsize)
        self._clock = clock
        self._flights = SingleFlight()  # a tag missed by many clients at once: one origin request

    async def resolve(self, key: Hashable, fetch: Callable[[], Awaitable[Digest]]) -> Digest:
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None:
            digest, at = entry
            if isinstance(digest, OCIError) and now - at < self.negative_ttl:
                raise OCIError(digest.code, digest.message, detail=digest.detail)  # what the origin said
            if isinstance(digest, Digest) and now - at < self.ttl:
                return digest
        try:
            digest = await self._flights.run(key, fetch)
        except OCIError as exc:
            if exc.code is errors.MANIFEST_UNKNOWN or exc.code is errors.NAME_UNKNOWN:
                self._entries[key] = (OCIError(exc.code, exc.message, detail=exc.detail), now)  # no traceback kept
                raise
            if entry is not None and isinstance(entry[0], Digest) and now - entry[1] < self.ttl + self.stale_if_error:
                log.warning("origin failed revalidating tag %s (%s); serving the cached %s",
                            ":".join(key) if isinstance(key, tuple) else key, exc.message, entry[0])
                return entry[0]
            raise
        self._entries[key] = (digest, now)
        return digest

    def forget(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def forget_where(self, matches: Callable[[Hashable], bool]) -> None:
        """Forget every key `matches` accepts (a deleted manifest: the tags of its repository)."""
        for key in [k for k in self._entries.keys() if matches(k)]:
            self._entries.pop(key, None)
