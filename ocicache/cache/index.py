"""The store's index: one SQLite file (WAL) shared by the node's worker processes.

Calls are serialised by a lock (the loop and worker threads share the connection).
One row per committed blob (digest, size, last access); a running byte total kept in the
same transaction as every insert and delete, so "how full is the store" is one row read,
and the LRU order is an indexed scan. Eviction forgets a batch of blobs per transaction
(`evict_batch`), so the write lock is held for milliseconds, never for a whole prune; the
same transaction records the batch in `evictions` (the last EVICTIONS_KEPT, for the UI). It
stays fast at a million rows and survives restarts.
"""
from __future__ import annotations

import functools
import sqlite3
import threading
import time
from pathlib import Path
from typing import Callable, Container, Iterable

EVICTIONS_KEPT = 50
"""Eviction batches the index remembers (one row each, written with the batch)."""

SCHEMA = """
CREATE TABLE IF NOT EXISTS blobs (
    digest TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    added REAL NOT NULL,
    last_access REAL NOT NULL,
    hits INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS blobs_lru ON blobs(last_access);
CREATE TABLE IF NOT EXISTS seen (digest TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO counters VALUES ('bytes', 0);
CREATE TABLE IF NOT EXISTS links (repo TEXT NOT NULL, digest TEXT NOT NULL, size INTEGER NOT NULL,
                                  PRIMARY KEY (repo, digest));
CREATE INDEX IF NOT EXISTS links_by_digest ON links(digest);
CREATE TABLE IF NOT EXISTS pinned_repos (repo TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS pinned_blobs (digest TEXT NOT NULL, repo TEXT NOT NULL, PRIMARY KEY (digest, repo));
CREATE TABLE IF NOT EXISTS evictions (at REAL NOT NULL, blobs INTEGER NOT NULL, bytes INTEGER NOT NULL,
                                      oldest_access REAL NOT NULL);
"""


def _locked(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self.lock:
            return method(self, *args, **kwargs)
    return wrapper


class Index:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.lock = threading.RLock()
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        if "checked" not in [row[1] for row in self.db.execute("PRAGMA table_info(links)")]:
            # when the origin last confirmed the link (link_ttl); 0 for rows of an older index
            self.db.execute("ALTER TABLE links ADD COLUMN checked REAL NOT NULL DEFAULT 0")

    @_locked
    def close(self) -> None:
        self.db.close()

    @_locked
    def total_bytes(self) -> int:
        return self.db.execute("SELECT value FROM counters WHERE name='bytes'").fetchone()[0]

    @_locked
    def entries(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM blobs").fetchone()[0]

    @_locked
    def size_of(self, digest: str) -> int | None:
        row = self.db.execute("SELECT size FROM blobs WHERE digest=?", (digest,)).fetchone()
        return row[0] if row else None

    @_locked
    def add(self, digest: str, size: int, when: float | None = None) -> None:
        now = time.time() if when is None else when
        with self._tx():
            cur = self.db.execute("INSERT OR IGNORE INTO blobs(digest, size, added, last_access) "
                                  "VALUES (?, ?, ?, ?)", (digest, size, now, now))
            if cur.rowcount:
                self.db.execute("UPDATE counters SET value = value + ? WHERE name='bytes'", (size,))

    @_locked
    def link(self, repo: str, digest: str, size: int) -> None:
        """Remember that the origin confirmed `repo` holds `digest` (kept while the blob is)."""
        self.db.execute("INSERT OR REPLACE INTO links(repo, digest, size, checked) VALUES (?, ?, ?, ?)",
                        (repo, digest, size, time.time()))

    @_locked
    def linked_size(self, repo: str, digest: str) -> int | None:
        row = self.db.execute("SELECT size FROM links WHERE repo=? AND digest=?", (repo, digest)).fetchone()
        return row[0] if row else None

    @_locked
    def link_of(self, repo: str, digest: str) -> tuple[int, float] | None:
        """(size, when the origin last confirmed it) of a link, or None."""
        row = self.db.execute("SELECT size, checked FROM links WHERE repo=? AND digest=?",
                              (repo, digest)).fetchone()
        return (row[0], row[1]) if row else None

    @_locked
    def linked_anywhere(self, digest: str) -> bool:
        return self.db.execute("SELECT 1 FROM links WHERE digest=? LIMIT 1", (digest,)).fetchone() is not None

    @_locked
    def unlink(self, repo: str, digest: str) -> None:
        self.db.execute("DELETE FROM links WHERE repo=? AND digest=?", (repo, digest))

    @_locked
    def remove(self, digest: str) -> int:
        """Forget a blob; returns the bytes it held (0 if it was not indexed)."""
        with self._tx():
            row = self.db.execute("DELETE FROM blobs WHERE digest=? RETURNING size", (digest,)).fetchone()
            self.db.execute("DELETE FROM links WHERE digest=?", (digest,))
            if row:
                self.db.execute("UPDATE counters SET value = value - ? WHERE name='bytes'", (row[0],))
        return row[0] if row else 0

    @_locked
    def touch(self, accesses: dict[str, float]) -> None:
        """Record last-access times (batched by the caller) and count the hits."""
        with self._tx():
            self.db.executemany("UPDATE blobs SET last_access = MAX(last_access, ?), hits = hits + 1 "
                                "WHERE digest = ?", [(when, digest) for digest, when in accesses.items()])

    @_locked
    def evict_batch(self, target_bytes: int, limit: int, busy: Container[str]) -> tuple[list[tuple[str, int]], int]:
        """One transaction: forget the least recently used unpinned blobs (at most `limit`, none
        in `busy`) until at most `target_bytes` remain, with their links. Returns the (digest,
        size) forgotten, whose files the caller then removes, and the bytes left."""
        with self._tx():
            total = self.db.execute("SELECT value FROM counters WHERE name='bytes'").fetchone()[0]
            victims: list[tuple[str, int]] = []
            if total <= target_bytes:
                return victims, total
            oldest = None
            for digest, size, accessed in self.db.execute(
                    "SELECT digest, size, last_access FROM blobs WHERE digest NOT IN "
                    "(SELECT digest FROM pinned_blobs) ORDER BY last_access LIMIT ?", (limit + len(busy),)).fetchall():
                if total <= target_bytes or len(victims) == limit:
                    break
                if digest not in busy:
                    victims.append((digest, size))
                    total -= size
                    oldest = accessed if oldest is None else oldest
            if victims:
                gone = [(digest,) for digest, _size in victims]
                self.db.executemany("DELETE FROM blobs WHERE digest=?", gone)
                self.db.executemany("DELETE FROM links WHERE digest=?", gone)
                self.db.execute("UPDATE counters SET value = ? WHERE name='bytes'", (total,))
                row = self.db.execute("INSERT INTO evictions VALUES (?, ?, ?, ?) RETURNING rowid",
                                      (time.time(), len(victims), sum(size for _d, size in victims), oldest))
                self.db.execute("DELETE FROM evictions WHERE rowid <= ?", (row.fetchone()[0] - EVICTIONS_KEPT,))
        return victims, total

    @_locked
    def last_evictions(self, n: int) -> list[dict[str, float]]:
        """The last `n` eviction batches, newest first: when, how many blobs and bytes, and
        the last access of the least recently used blob of the batch."""
        return [{"at": at, "blobs": blobs, "bytes": nbytes, "oldest_access": oldest}
                for at, blobs, nbytes, oldest in self.db.execute(
                    "SELECT at, blobs, bytes, oldest_access FROM evictions ORDER BY rowid DESC LIMIT ?", (n,))]

    def top_linked(self, n: int, prefix: str = "") -> list[tuple[str, int, int]]:
        """(repo, blobs, bytes) of the `n` repositories (links starting with `prefix`) whose
        stored blobs hold the most bytes: one GROUP BY over links joined to blobs, every row
        read (~0.35 s at 100k blobs, ~7 s at 1M; the caller bounds how often and on how large
        an index). On a read-only connection of its own, outside the lock: the worker's other
        index calls do not wait for it, nor (WAL) does any writer."""
        db = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True, timeout=30)
        try:
            return db.execute(
                "SELECT l.repo, COUNT(*), SUM(b.size) FROM links l JOIN blobs b ON b.digest = l.digest "
                "WHERE l.repo >= ? AND l.repo < ? GROUP BY l.repo ORDER BY 3 DESC, 1 LIMIT ?",
                (prefix, prefix + "\U0010ffff", n)).fetchall()
        finally:
            db.close()

    @_locked
    def digests_between(self, low: str, high: str) -> dict[str, int]:
        """digest -> size of the rows with low <= digest < high (one shard: cache/reconcile.py)."""
        return dict(self.db.execute("SELECT digest, size FROM blobs WHERE digest >= ? AND digest < ?",
                                    (low, high)).fetchall())

    @_locked
    def drop_if(self, digests: list[str], gone: Callable[[str], bool]) -> int:
        """One transaction: forget those of `digests` for which `gone(digest)` holds when asked
        (inside it, so a commit racing with the caller keeps its row); returns how many."""
        dropped = freed = 0
        with self._tx():
            for digest in digests:
                if not gone(digest):
                    continue
                row = self.db.execute("DELETE FROM blobs WHERE digest=? RETURNING size", (digest,)).fetchone()
                if row:
                    self.db.execute("DELETE FROM links WHERE digest=?", (digest,))
                    dropped, freed = dropped + 1, freed + row[0]
            self.db.execute("UPDATE counters SET value = value - ? WHERE name='bytes'", (freed,))
        return dropped

    @_locked
    def add_many(self, rows: list[tuple[str, int, float]]) -> int:
        """One transaction: index (digest, size, when) rows not indexed yet; returns how many."""
        added = size = 0
        with self._tx():
            for digest, nbytes, when in rows:
                if self.db.execute("INSERT OR IGNORE INTO blobs(digest, size, added, last_access) "
                                   "VALUES (?, ?, ?, ?)", (digest, nbytes, when, when)).rowcount:
                    added, size = added + 1, size + nbytes
            self.db.execute("UPDATE counters SET value = value + ? WHERE name='bytes'", (size,))
        return added

    @_locked
    def all_digests(self) -> Iterable[tuple[str, int]]:
        return self.db.execute("SELECT digest, size FROM blobs").fetchall()

    @_locked
    def seen_before(self, digest: str) -> bool:
        """Whether `digest` was offered before (admission); records this offer either way."""
        cur = self.db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?)", (digest, time.time()))
        return cur.rowcount == 0

    @_locked
    def counter(self, name: str) -> int:
        row = self.db.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()
        return row[0] if row else 0

    @_locked
    def add_counters(self, deltas: dict[str, int]) -> None:
        with self._tx():
            for name, delta in deltas.items():
                self.db.execute("INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) "
                                "DO UPDATE SET value = value + excluded.value", (name, delta))

    @_locked
    def set_counter(self, name: str, value: int) -> None:
        """Record a value (the node's byte budget at start, for `ocicache cache stats`)."""
        with self._tx():
            self.db.execute("INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) "
                            "DO UPDATE SET value = excluded.value", (name, value))

    def _tx(self):
        return _Transaction(self.db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
