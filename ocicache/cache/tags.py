"""Tag -> digest answers kept in memory for a short TTL (tags are mutable).

A fresh entry is served as is; a stale one is revalidated against the origin (a cheap
HEAD); when the origin fails, a stale entry keeps serving for `stale_if_error` seconds
more. Unknown tags are remembered for `negative_ttl` seconds. With `shared`, the entries
live in the store's index for every worker of the node (sharedtags.py).
"""
from __future__ import annotations

import logging
import time
from typing import Awaitable, Callable

from cachetools import LRUCache

from .. import errors
from ..errors import OCIError
from ..reference import Digest
from .generations import Generations
from .sharedtags import SharedTags
from .singleflight import SingleFlight

log = logging.getLogger("ocicache.tags")
FAILING_HOLD_S = 5.0  # after a failed revalidation, seconds a stale tag is served without retrying


class TagCache:
    def __init__(self, ttl: float, stale_if_error: float, negative_ttl: float, maxsize: int = 100_000,
                 clock: Callable[[], float] = time.monotonic, generations: Generations | None = None,
                 shared: SharedTags | None = None) -> None:
        """`generations` and `shared` make the worker processes of a node one cache: memory is
        trusted while the repository's generation holds, else the shared row is read."""
        self.ttl, self.stale_if_error, self.negative_ttl = ttl, stale_if_error, negative_ttl
        # (repo, tag) -> (digest, or the origin's "unknown" error, when, repository generation)
        self._entries: LRUCache[tuple[str, str], tuple[Digest | OCIError, float, int]] = LRUCache(maxsize)
        self._clock = clock
        self.generations = generations if generations is not None else Generations()
        self.shared = shared
        self._flights = SingleFlight()  # a tag missed by many clients at once: one origin request
        # key -> until when a stale entry is served without asking the failing origin again
        self._failing: LRUCache[tuple[str, str], float] = LRUCache(10_000)

    def _fresh(self, entry: tuple[Digest | OCIError, float, int] | None, now: float) -> bool:
        if entry is None:
            return False
        limit = self.negative_ttl if isinstance(entry[0], OCIError) else self.ttl
        return now - entry[1] < limit

    def _lookup(self, key: tuple[str, str], now: float, generation: int):
        entry = self._entries.get(key)
        if entry is not None and entry[2] != generation:
            entry = None  # a worker of this node wrote the repository since
        if self.shared is not None and not self._fresh(entry, now):
            row = self.shared.get(*key)
            if row is not None and (entry is None or row[1] > entry[1]):
                entry = (row[0], row[1], generation)
                self._entries[key] = entry
        return entry

    async def resolve(self, key: tuple[str, str], fetch: Callable[[], Awaitable[Digest]]) -> Digest:
        now = self._clock()
        generation = self.generations.get(key[0])
        entry = self._lookup(key, now, generation)
        if entry is not None and isinstance(entry[0], Digest) and now < self._failing.get(key, 0.0) \
                and now - entry[1] < self.ttl + self.stale_if_error:
            return entry[0]  # the origin failed a moment ago: no retry storm while it is down
        if self._fresh(entry, now):
            value = entry[0]
            if isinstance(value, OCIError):
                raise OCIError(value.code, value.message, detail=value.detail)  # what the origin said
            return value
        try:
            digest = await self._flights.run(key, fetch)
        except OCIError as exc:
            if exc.code is errors.MANIFEST_UNKNOWN or exc.code is errors.NAME_UNKNOWN:
                self._keep(key, OCIError(exc.code, exc.message, detail=exc.detail), now, generation)
                raise
            if entry is not None and isinstance(entry[0], Digest) and now - entry[1] < self.ttl + self.stale_if_error:
                log.warning("origin failed revalidating tag %s (%s); serving the cached %s",
                            ":".join(key), exc.message, entry[0])
                self._failing[key] = now + FAILING_HOLD_S
                return entry[0]
            raise
        self._keep(key, digest, now, generation)
        return digest

    def _keep(self, key: tuple[str, str], value: Digest | OCIError, now: float, generation: int) -> None:
        self._entries[key] = (value, now, generation)  # an error is kept without its traceback
        if self.shared is not None:
            self.shared.put(key[0], key[1], value, now)

    def forget(self, key: tuple[str, str]) -> None:
        self._entries.pop(key, None)
        if self.shared is not None:
            self.shared.forget(*key)

    def forget_repository(self, repo: str) -> None:
        """Forget every tag of `repo` (a deleted manifest, a purge), on every worker."""
        for key in [k for k in self._entries.keys() if k[0] == repo]:
            self._entries.pop(key, None)
        if self.shared is not None:
            self.shared.forget_repository(repo)
