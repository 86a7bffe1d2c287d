"""Blob link and size answers from memory, for a node that serves its own files.

A GET of a blob asks the registry whether the repository links the digest and how big it is;
a directory origin answers by reading a link file and stat-ing the data file, every time. Here
the answer is kept per worker, keyed by (repository, digest), and trusted only while:
- the repository's shared generation (cache/generations.py) still holds the value read
  before the answer was fetched: a delete, push, mount or purge through any worker of the
  node bumps it, so every worker stops answering from memory at once;
- LINK_TTL seconds have not passed: a change made outside the node (a `gc` run, files moved by
  hand) is seen within that time;
- the blob file can still be opened: `forget` is called when it cannot (body.py's open-file
  cache drops unlinked files), and the registry is asked again.
A node with a blob store (an edge, a mirror) does not use this: its store and its origin
confirmations (cache/caching.py) already answer from memory and keep their own expiry.
Negative answers are not kept (cache/absent.py is the one place for those). Bounded by count.
"""
from __future__ import annotations

import time
from typing import Callable

from cachetools import TTLCache

from ..config import Config
from ..reference import Digest
from ..registry import Registry
from ..registry.registry import BlobInfo

LINK_TTL = 1.0
MAX_ANSWERS = 4096


class BlobAnswers:
    def __init__(self, ttl: float = LINK_TTL, max_answers: int = MAX_ANSWERS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        # values are (registry asked, its answer, the repository's generation before asking)
        self._answers: TTLCache[tuple[str, Digest], tuple[Registry, BlobInfo, int]] = TTLCache(
            max_answers, ttl, timer=clock)

    async def blob(self, registry: Registry, repo: str, digest: Digest) -> BlobInfo:
        """`registry.blob(repo, digest)`, from memory while it is still true."""
        generation = registry.cache.generation(repo)
        entry = self._answers.get((repo, digest))
        if entry is not None and entry[0] is registry and entry[2] == generation:
            return entry[1]
        info = await registry.blob(repo, digest)
        self._answers[(repo, digest)] = (registry, info, generation)
        return info

    def forget(self, repo: str, digest: Digest) -> None:
        self._answers.pop((repo, digest), None)

    def __len__(self) -> int:
        return len(self._answers)


class ServesOwnFiles:
    """Whether a node's config serves its own files (no blob store): asked once per config
    object, not per request (the answer resolves the data folder's path)."""

    def __init__(self) -> None:
        self._config: Config | None = None
        self._answer = False

    def __call__(self, cfg: Config) -> bool:
        if cfg is not self._config:
            self._answer = not cfg.keeps_cache
            self._config = cfg
        return self._answer
