"""The purge journal: an admin purge taken by one node reaches every node sharing its origin.

The node that took the purge (`POST /admin/purge`) writes one small JSON entry into the origin
itself (`origin.purge_journal()`: objects under a bucket's `_ocicache/purges/`, or files in a
directory origin's): the repository, the tag or digest asked, and every digest it purged. Each
node lists the journal every `[cache] purge_poll` seconds and applies each entry it has not
applied yet: the tags forgotten, the digests (and their links) removed from its store, the
repository's generation bumped, so every worker of the node drops what it kept in memory
(generations.py). One worker per node polls: it holds the lease (an flock on
`<data_dir>/purge-journal.lock`); the others try again every interval, so a worker that
dies hands the lease on. Cost per node: one LIST per interval (360 an hour at the 10 s
default), plus one GET per new entry.

Entries are remembered as applied in the store's index (table `purges_applied`), so a
restarted node does not apply them again; the node that wrote one marks it applied before
writing it. Entries older than `RETENTION_S` are ignored and removed by whichever node sees
them first. An origin that cannot keep a journal (another registry) gives None: a purge
there reaches only the node that took it, and says so.
"""
from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import secrets
import sqlite3
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from ..config.checks import PURGE_RETENTION_S as RETENTION_S
from ..errors import OCIError
from ..origin import CacheInFront, Origin
from ..origin.base import JournalStore
from ..origin import layout
from ..reference import Digest, check_name, check_tag
from .generations import Generations
from .index import Index

log = logging.getLogger("ocicache.purge")
SCHEMA = "CREATE TABLE IF NOT EXISTS purges_applied (name TEXT PRIMARY KEY, at REAL NOT NULL)"


@dataclass(frozen=True)
class Purge:
    """One entry: `every_tag` for a whole repository, else `tag` (or neither: a digest)."""

    repository: str
    tag: str | None
    digest: str | None
    every_tag: bool
    digests: tuple[str, ...]
    at: float

    def to_bytes(self) -> bytes:
        return json.dumps({**asdict(self), "digests": list(self.digests)}).encode()

    @classmethod
    def parse(cls, data: bytes) -> "Purge":
        """ValueError (for the log) if the entry is not one this node can apply."""
        try:
            doc = json.loads(data)
            tag, digest = doc["tag"], doc["digest"]
            purge = cls(check_name(doc["repository"]), check_tag(tag) if tag else None,
                        str(Digest.parse(digest)) if digest else None,
                        bool(doc["every_tag"]), tuple(str(Digest.parse(d)) for d in doc["digests"]),
                        float(doc["at"]))
        except (ValueError, KeyError, TypeError, AttributeError, OCIError):
            raise ValueError("not a purge entry this version of ocicache can read") from None
        return purge

    def describe(self) -> str:
        what = "every tag" if self.every_tag else f"tag {self.tag}" if self.tag else f"digest {self.digest}"
        return f"{self.repository} ({what}, {len(self.digests)} digests)"


class PurgeJournal:
    def __init__(self, store: JournalStore, cache: CacheInFront, generations: Generations, index: Index,
                 interval: float, lease: Path, clock: Callable[[], float] = time.time) -> None:
        """`lease`: the node's lock file (one poller per node); `clock`: wall-clock seconds, the
        time entries are stamped with and aged by."""
        self.store, self.cache, self.generations, self.index = store, cache, generations, index
        self.interval, self.lease_path, self._clock = interval, lease, clock
        self._lease_fd = -1
        with index.lock:
            index.db.execute(SCHEMA)

    @classmethod
    def over(cls, origin: Origin, index: Index, generations: Generations, interval: float,
             lease: Path) -> "PurgeJournal | None":
        """The journal of what `origin` caches (its store's `index`), if `origin` is a cache
        and its remote keeps one; else None."""
        cache = origin.cache()
        store = cache.remote.purge_journal() if cache is not None else None
        if cache is None or store is None:
            return None
        return cls(store, cache, generations, index, interval, lease)

    @property
    def reach(self) -> str:
        return f"every node on {self.store.where} within {self.interval:g} s ([cache] purge_poll)"

    # ---- the node that took the purge ----
    async def record(self, repository: str, tag: str | None, digest: str | None, every_tag: bool,
                     digests: list[str]) -> str:
        """Write the entry for a purge this node applied; returns its name."""
        at = self._clock()
        purge = Purge(repository, tag, digest, every_tag, tuple(digests), at)
        name = layout.purge_entry(at, secrets.token_hex(6))
        self._mark(name, at)  # this node's own poller must not apply it again
        await self.store.put(name, purge.to_bytes())
        return name

    # ---- every node ----
    def apply(self, purge: Purge) -> int:
        """Forget the tags, remove the digests, move the repository's generation; bytes freed."""
        if purge.every_tag:
            self.cache.forget_repository_tags(purge.repository)
        elif purge.tag:
            self.cache.forget_tag(purge.repository, purge.tag)
        freed = sum(self.cache.remove(Digest.parse(d)) for d in purge.digests)
        self.generations.bump(purge.repository)
        return freed

    async def poll(self) -> int:
        """Apply the entries not applied yet; remove those past retention. Entries applied."""
        now, applied = self._clock(), 0
        for name in sorted(await self.store.names()):
            at = layout.purge_entry_time(name)
            if at is None:
                continue  # not an entry
            if now - at > RETENTION_S:
                await self.store.delete(name)  # applied here or not: every node had its chance
                continue
            if self._applied(name):
                continue
            data = await self.store.get(name)
            if data is None:
                continue  # removed meanwhile
            try:
                purge = Purge.parse(data)
            except ValueError as exc:
                log.warning("purge journal %s: entry %s skipped: %s", self.store.where, name, exc)
            else:
                freed = await asyncio.to_thread(self.apply, purge)
                applied += 1
                log.info("purge of %s taken on another node applied here: %d bytes freed",
                         purge.describe(), freed)
            self._mark(name, at)
        with self.index.lock:
            self.index.db.execute("DELETE FROM purges_applied WHERE at < ?", (now - 2 * RETENTION_S,))
        return applied

    async def run(self) -> None:
        """Poll every interval while this worker holds the node's lease; until cancelled."""
        try:
            while True:
                if self._leased():
                    try:
                        await self.poll()
                    except OCIError as exc:
                        log.warning("purge journal %s: %s; purges taken on other nodes wait for the next "
                                    "poll in %g s", self.store.where, exc.message, self.interval)
                    except (OSError, sqlite3.Error) as exc:
                        log.warning("purge journal %s: applying purges to the cache in %s failed (%s); "
                                    "trying again in %g s", self.store.where, self.index.path,
                                    getattr(exc, "strerror", None) or str(exc), self.interval)
                await asyncio.sleep(self.interval)
        finally:
            if self._lease_fd >= 0:
                os.close(self._lease_fd)  # the lock goes with it
                self._lease_fd = -1

    def _leased(self) -> bool:
        if self._lease_fd >= 0:
            return True
        fd = os.open(self.lease_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False  # another worker of this node polls
        self._lease_fd = fd
        return True

    def _applied(self, name: str) -> bool:
        with self.index.lock:
            return self.index.db.execute("SELECT 1 FROM purges_applied WHERE name=?", (name,)).fetchone() is not None

    def _mark(self, name: str, at: float) -> None:
        with self.index.lock:
            self.index.db.execute("INSERT OR IGNORE INTO purges_applied VALUES (?, ?)", (name, at))
