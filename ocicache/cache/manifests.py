"""Parsed manifests answered from memory, by (repository, digest).

A manifest's bytes never change under its digest, but a repository's link to it can be
deleted. So entries expire after `digest_ttl` seconds (and are bounded by bytes,
least-recently-used first). A write through any worker process of the node bumps the
repository's shared generation (generations.py): an entry kept under an older one is a
miss, so every worker answers a delete or push at once. Tags are not
kept here: the one tag cache is the edge's TagCache (tags.py), and a directory origin
answers a tag from its link file.
"""
from __future__ import annotations

import time
from typing import Callable, Generic, TypeVar

from cachetools import TTLCache

from ..reference import Digest
from .generations import Generations

V = TypeVar("V")


class ManifestCache(Generic[V]):
    def __init__(self, max_bytes: int = 64 * 1024 * 1024, digest_ttl: float = 10.0,
                 clock: Callable[[], float] = time.monotonic, generations: Generations | None = None) -> None:
        # values are (manifest, size in bytes, generation); the size counts against max_bytes
        self._manifests: TTLCache[tuple[str, Digest], tuple[V, int, int]] = TTLCache(
            max_bytes, digest_ttl, timer=clock, getsizeof=lambda entry: entry[1])
        self.max_bytes = max_bytes
        self.generations = generations if generations is not None else Generations()

    def generation(self, repo: str) -> int:
        """Read before fetching what `put` will keep."""
        return self.generations.get(repo)

    def get(self, repo: str, digest: Digest) -> V | None:
        entry = self._manifests.get((repo, digest))
        if entry is None or entry[2] != self.generations.get(repo):
            return None
        return entry[0]

    def put(self, repo: str, digest: Digest, manifest: V, size: int, generation: int | None = None) -> None:
        """Remember `manifest` (of `size` bytes) as linked in `repo` as of `generation`
        (read before it was fetched; default: now); too big ones are not kept."""
        if size <= self.max_bytes:
            gen = self.generations.get(repo) if generation is None else generation
            self._manifests[(repo, digest)] = (manifest, size, gen)

    def forget(self, repo: str, digest: Digest) -> None:
        """After a delete: the repository no longer holds the manifest."""
        self._manifests.pop((repo, digest), None)

    def clear(self) -> None:
        self._manifests.clear()
