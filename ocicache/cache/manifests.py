"""Manifests answered from memory: parsed manifests by (repository, digest), tags for a short TTL.

A manifest's bytes never change under its digest, but a repository's link to it can be
deleted, and a tag can move. So both maps expire: by-digest entries after `digest_ttl`
seconds (they are bounded by bytes too, least-recently-used first), tag -> digest answers
after `tag_ttl` seconds. A write through this process updates or drops its entries at
once; a write through another worker process of the same node is seen here within the TTL.
"""
from __future__ import annotations

import time
from typing import Callable, Generic, TypeVar

from cachetools import TTLCache

from ..reference import Digest

V = TypeVar("V")


class ManifestCache(Generic[V]):
    def __init__(self, max_bytes: int = 64 * 1024 * 1024, digest_ttl: float = 10.0, tag_ttl: float = 1.0,
                 max_tags: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        # values are (manifest, size in bytes); the size is what counts against max_bytes
        self._manifests: TTLCache[tuple[str, Digest], tuple[V, int]] = TTLCache(
            max_bytes, digest_ttl, timer=clock, getsizeof=lambda entry: entry[1])
        self._tags: TTLCache[tuple[str, str], Digest] = TTLCache(max_tags, tag_ttl, timer=clock)
        self.max_bytes = max_bytes

    # ---- by digest ----
    def get(self, repo: str, digest: Digest) -> V | None:
        entry = self._manifests.get((repo, digest))
        return None if entry is None else entry[0]

    def put(self, repo: str, digest: Digest, manifest: V, size: int) -> None:
        """Remember `manifest` (of `size` bytes) as linked in `repo`; too big ones are not kept."""
        if size <= self.max_bytes:
            self._manifests[(repo, digest)] = (manifest, size)

    def forget(self, repo: str, digest: Digest) -> None:
        """After a delete: forget the manifest and every tag of `repo` (one may have pointed to it)."""
        self._manifests.pop((repo, digest), None)
        for key in [k for k in self._tags.keys() if k[0] == repo]:
            self._tags.pop(key, None)

    # ---- tags ----
    def tag(self, repo: str, tag: str) -> Digest | None:
        return self._tags.get((repo, tag))

    def set_tag(self, repo: str, tag: str, digest: Digest) -> None:
        self._tags[(repo, tag)] = digest

    def forget_tag(self, repo: str, tag: str) -> None:
        self._tags.pop((repo, tag), None)

    def clear(self) -> None:
        self._manifests.clear()
        self._tags.clear()
