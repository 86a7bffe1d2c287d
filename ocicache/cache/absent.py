"""What the origin said it does not hold, remembered for `negative_ttl` by every worker of a node.

At an edge, the origin's "unknown" for a digest (a blob HEAD or GET: BLOB_UNKNOWN; a manifest
by digest: MANIFEST_UNKNOWN or NAME_UNKNOWN) is given again for `[cache] negative_ttl` seconds
without asking, per (repository, digest). An entry lives in the asking worker's memory and in
one row of the store's index, so the other workers answer it too. It keeps the repository's
write generation (generations.py) read before the origin was asked: a write to the repository
acknowledged by any worker of this node (push, mount, manifest put, delete) moves it, and the
entry is dead at once on every worker (read-your-writes: a blob pushed through this node right
after a 404 answers 200). Only "unknown" is kept: a 5xx or a timeout is asked again next time.
Something added at the origin behind this node's back is seen once `negative_ttl` has passed.
"""
from __future__ import annotations

import time
from typing import Callable

from cachetools import LRUCache

from .. import errors
from ..errors import OCIError
from ..reference import Digest
from .generations import Generations
from .index import Index

SCHEMA = """CREATE TABLE IF NOT EXISTS absent (key TEXT PRIMARY KEY, code TEXT NOT NULL,
                                               message TEXT NOT NULL, generation INTEGER NOT NULL,
                                               at REAL NOT NULL)"""
UNKNOWN = {code.code: code for code in (errors.BLOB_UNKNOWN, errors.MANIFEST_UNKNOWN, errors.NAME_UNKNOWN)}
PRUNE_EVERY = 512  # remembered entries between two sweeps of dead rows out of the index

Entry = tuple[str, str, float, int]  # (error code, message, when, repository generation)


class Absences:
    def __init__(self, index: Index | None, generations: Generations, ttl: float, scope: str = "",
                 clock: Callable[[], float] = time.monotonic, maxsize: int = 20_000) -> None:
        """`index`: the store's index the workers share (None: this process only); `clock`:
        the system-wide monotonic clock every worker reads. `ttl` 0 keeps nothing."""
        self.index, self.generations, self.ttl, self.scope = index, generations, ttl, scope
        self._clock = clock
        self._memory: LRUCache[tuple[str, str, Digest], Entry] = LRUCache(maxsize)
        self._until_prune = PRUNE_EVERY
        if index is not None and ttl > 0:
            with index.lock:
                index.db.execute(SCHEMA)

    def _alive(self, entry: Entry | None, now: float, generation: int) -> bool:
        # `at` after now: a row from before a reboot (the monotonic clock starts again)
        return entry is not None and entry[3] == generation and 0 <= now - entry[2] < self.ttl

    def _row_key(self, kind: str, repo: str, digest: Digest) -> str:
        return f"{kind} {self.scope}/{repo}@{digest}"

    def check(self, kind: str, repo: str, digest: Digest, generation: int) -> None:
        """Raise the origin's "unknown" for `digest` in `repo` if it is remembered and alive;
        `kind` is "blob" or "manifest"; `generation` the repository's, read just before."""
        if self.ttl <= 0:
            return
        key, now = (kind, repo, digest), self._clock()
        entry = self._memory.get(key)
        if not self._alive(entry, now, generation) and self.index is not None:
            with self.index.lock:
                row = self.index.db.execute("SELECT code, message, at, generation FROM absent WHERE key=?",
                                            (self._row_key(kind, repo, digest),)).fetchone()
            entry = None if row is None else (row[0], row[1], row[2], row[3])
            if self._alive(entry, now, generation):
                self._memory[key] = entry  # another worker asked the origin
        if self._alive(entry, now, generation):
            raise OCIError(UNKNOWN.get(entry[0], errors.BLOB_UNKNOWN), entry[1],
                           detail={"name": repo, "digest": str(digest)})

    def remember(self, kind: str, repo: str, digest: Digest, exc: OCIError, generation: int) -> None:
        """The origin answered `exc` ("unknown") for a question asked under `generation`."""
        if self.ttl <= 0 or exc.code.code not in UNKNOWN or generation != self.generations.get(repo):
            return  # not an "unknown", or the repository was written while the origin was asked
        entry = (exc.code.code, exc.message, self._clock(), generation)
        self._memory[(kind, repo, digest)] = entry
        if self.index is None:
            return
        with self.index.lock:
            self.index.db.execute("INSERT OR REPLACE INTO absent VALUES (?, ?, ?, ?, ?)",
                                  (self._row_key(kind, repo, digest), *entry[:2], generation, entry[2]))
            self._until_prune -= 1
            if self._until_prune <= 0:
                self._until_prune = PRUNE_EVERY
                self.index.db.execute("DELETE FROM absent WHERE at < ? OR at > ?",
                                      (entry[2] - self.ttl, entry[2]))

    def forget(self, kind: str, repo: str, digest: Digest) -> None:
        """This worker wrote it: drop its memory now (the write's generation bump, Registry.wrote,
        is what retires the entry on every worker)."""
        self._memory.pop((kind, repo, digest), None)
