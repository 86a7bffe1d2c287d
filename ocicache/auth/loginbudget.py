"""The failed-login budget, per client IP and per user name, shared by the node's workers.

An attempt is *reserved* before its password is checked: one token is taken from the
client IP's bucket and one from the user name's, in a single SQLite transaction
(`BEGIN IMMEDIATE`, so the workers of a node take turns) on <data_dir>/auth/logins.sqlite.
However many requests arrive at once, in however many worker processes, no more than the
budget reach bcrypt; the rest get 429 at once. A right password gives its tokens back, so
only failures spend the budget. Buckets hold `per_minute` tokens and refill at that rate per
minute; the file survives restarts (restarting does not refill a spent budget).

Workers that open the file at the same moment contend for it ("database is locked": switching
a new file to WAL takes a lock that SQLite's busy timeout does not wait for), so a locked or
busy file is retried for up to LOCKED_RETRY_S. Only a file that stays unusable (read-only or full
disk) makes the budget fall back to buckets in the worker process (logged once): logins keep
working, limited per worker.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import time
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from .ratelimit import TokenBuckets

log = logging.getLogger("ocicache.auth")
SCHEMA = "CREATE TABLE IF NOT EXISTS buckets (key TEXT PRIMARY KEY, tokens REAL NOT NULL, stamp REAL NOT NULL)"
PRUNE_EVERY_S = 60.0
LOCKED_RETRY_S = 5.0
MAX_KEY_CHARS = 200


T = TypeVar("T")


def _transient(exc: sqlite3.Error) -> bool:
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def _key(kind: str, value: str) -> str:
    if len(value) > MAX_KEY_CHARS:  # user names are whatever a client sends: bound the rows
        value = "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{kind}:{value}"


class LoginBudget:
    """`wait` (read only) and `reserve`/`refund` of failed-login tokens for (ip, user)."""

    def __init__(self, path: Path, ip_per_minute: float, user_per_minute: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self.limits = {"ip": float(ip_per_minute), "user": float(user_per_minute)}
        self._clock = clock
        self._db: sqlite3.Connection | None = None
        self._pid = 0
        self._next_prune = 0.0
        self._memory: dict[str, TokenBuckets] | None = None

    # ---- storage ----
    def _conn(self) -> sqlite3.Connection:
        if self._db is None or self._pid != os.getpid():  # never a connection inherited by fork
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=LOCKED_RETRY_S, isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=OFF")  # a budget, not a ledger: losing a second is fine
                db.execute(SCHEMA)
            except sqlite3.Error:
                db.close()
                raise
            self._db, self._pid = db, os.getpid()
        return self._db

    def _retrying(self, step: Callable[[], T]) -> T:
        """`step()`, again while the file is locked by another worker (up to LOCKED_RETRY_S)."""
        deadline = time.monotonic() + LOCKED_RETRY_S
        pause = 0.002
        while True:
            try:
                return step()
            except sqlite3.Error as exc:
                if not _transient(exc) or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)  # blocking on purpose: the budget must be decided before bcrypt
            pause = min(pause * 2, 0.05)

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    def _on_file(self, step: Callable[[], T]) -> T | None:
        """`step()` on the file (retried while locked); None once the file is unusable."""
        if self._memory is not None:
            return None
        try:
            return self._retrying(step)
        except (sqlite3.Error, OSError) as exc:
            self._fallback(exc)
            return None

    def _fallback(self, exc: Exception) -> dict[str, TokenBuckets]:
        if self._memory is None:
            log.error("failed-login budget file %s: %s; counting failed logins per worker process "
                      "until restart (check the data dir's disk and permissions)", self.path, exc)
            self._memory = {kind: TokenBuckets(n / 60.0, n) for kind, n in self.limits.items()}
        return self._memory

    # ---- buckets ----
    def _keys(self, ip: str, user: str) -> list[tuple[str, str]]:
        return [("ip", _key("ip", ip)), ("user", _key("user", user))]

    def _levels(self, db: sqlite3.Connection, keys: list[tuple[str, str]], now: float) -> list[float]:
        out = []
        for kind, key in keys:
            burst = self.limits[kind]
            row = db.execute("SELECT tokens, stamp FROM buckets WHERE key=?", (key,)).fetchone()
            level = burst if row is None else min(burst, row[0] + max(0.0, now - row[1]) * burst / 60.0)
            out.append(level)
        return out

    def _wait(self, keys: list[tuple[str, str]], levels: list[float]) -> tuple[float, str]:
        """(seconds until every bucket has a token, the kind that is empty) or (0, "")."""
        worst = (0.0, "")
        for (kind, _), level in zip(keys, levels):
            if level < 1:
                wait = (1 - level) * 60.0 / self.limits[kind]
                worst = max(worst, (wait, kind))
        return worst

    def wait(self, ip: str, user: str) -> tuple[float, str]:
        """Whether (ip, user) may try now, taking nothing: (0, "") or (seconds, "ip"/"user")."""
        keys = self._keys(ip, user)
        found = self._on_file(lambda: self._wait(keys, self._levels(self._conn(), keys, self._clock())))
        return found if found is not None else self._memory_wait(keys)

    def reserve(self, ip: str, user: str) -> tuple[float, str]:
        """Take a token for (ip, user): (0, "") when taken, else (seconds, kind), nothing taken."""
        keys = self._keys(ip, user)
        found = self._on_file(lambda: self._reserve_db(keys))
        if found is not None:
            return found
        wait = self._memory_wait(keys)
        if not wait[0]:
            for kind, key in keys:
                self._memory[kind].take(key)  # type: ignore[index]
        return wait

    def _memory_wait(self, keys: list[tuple[str, str]]) -> tuple[float, str]:
        mem = self._memory
        assert mem is not None
        worst = max((mem[kind].wait(key), kind) for kind, key in keys)
        return worst if worst[0] else (0.0, "")

    def _reserve_db(self, keys: list[tuple[str, str]]) -> tuple[float, str]:
        now = self._clock()
        with self._tx() as db:
            levels = self._levels(db, keys, now)
            wait = self._wait(keys, levels)
            if wait[0]:
                return wait
            db.executemany("INSERT OR REPLACE INTO buckets(key, tokens, stamp) VALUES (?, ?, ?)",
                           [(key, level - 1, now) for (_, key), level in zip(keys, levels)])
            if now >= self._next_prune:  # a full bucket is the same as no row
                self._next_prune = now + PRUNE_EVERY_S
                db.execute("DELETE FROM buckets WHERE stamp < ?", (now - 60.0,))
        return 0.0, ""

    def refund(self, ip: str, user: str) -> None:
        """Give back a reserved token (the password was right, or it was never checked)."""
        keys = self._keys(ip, user)
        if self._memory is not None:
            for kind, key in keys:
                self._memory[kind].give(key)
            return
        self._on_file(lambda: self._refund_db(keys))  # unusable file: the memory buckets start full

    def _refund_db(self, keys: list[tuple[str, str]]) -> bool:
        now = self._clock()
        with self._tx() as db:
            levels = self._levels(db, keys, now)
            db.executemany("INSERT OR REPLACE INTO buckets(key, tokens, stamp) VALUES (?, ?, ?)",
                           [(key, min(self.limits[kind], level + 1), now)
                            for (kind, key), level in zip(keys, levels)])
        return True

    def close(self) -> None:
        if self._db is not None and self._pid == os.getpid():
            self._db.close()
        self._db = None
