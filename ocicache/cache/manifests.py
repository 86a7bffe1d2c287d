"""Parsed manifests answered from memory, by (repository, digest).

A manifest's bytes never change under its digest, but a repository's link to it can be
deleted. So entries expire after `digest_ttl` seconds (and are bounded by bytes,
least-recently-used first). A delete through this process drops its entry at once; one
through another worker process of the same node is seen here within the TTL. Tags are not
kept here: the one tag cache is the edge's TagCache (tags.py), and a directory origin
answers a tag from its link file.
"""
from __future__ import annotations

import time
from typing import Callable, Generic, TypeVar

from cachetools import TTLCache

from ..reference import Digest

V = TypeVar("V")


class ManifestCache(Generic[V]):
    def __init__(self, max_bytes: int = 64 * 1024 * 1024, digest_ttl: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # values are (manifest, size in bytes); the size is what counts against max_bytes
        self._manifests: TTLCache[tuple[str, Digest], tuple[V, int]] = TTLCache(
            max_bytes, digest_ttl, timer=clock, getsizeof=lambda entry: entry[1])
        self.max_bytes = max_bytes

    def get(self, repo: str, digest: Digest) -> V | None:
        entry = self._manifests.get((repo, digest))
        return None if entry is None else entry[0]

    def put(self, repo: str, digest: Digest, manifest: V, size: int) -> None:
        """Remember `manifest` (of `size` bytes) as linked in `repo`; too big ones are not kept."""
        if size <= self.max_bytes:
            self._manifests[(repo, digest)] = (manifest, size)

    def forget(self, repo: str, digest: Digest) -> None:
        """After a delete: the repository no longer holds the manifest."""
        self._manifests.pop((repo, digest), None)

    def clear(self) -> None:
        self._manifests.clear()
