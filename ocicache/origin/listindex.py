"""The directory origin's ordered index of repositories and tags, so a catalog or tag page
costs what the page holds, not what the directory holds (issue 23).

One SQLite file beside the layout (`layout.LISTINGS`, under `_ocicache/`, where a registry:2
never looks), shared by every worker process and node writing the directory: SQLite's file
locks serialize the writers; the rollback journal (not WAL) keeps it correct on a network
filesystem whose locks work. The origin's write path adds a repository when its first
manifest is stored and a tag when it is pointed; deleting a tag removes it. The layout stays
the truth: the origin checks every listed name against it and drops names that are gone
(`forget`), and the index is rebuilt from a walk of the layout when the file is missing (the
first node to open it builds it; the others wait on its lock). What another program writes
into the directory (a registry:2 on the same root) is listed once the index is rebuilt:
remove the file while no node runs.
"""
from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Callable, Iterable

from .. import errors
from ..errors import OCIError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS repositories (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tags (repo TEXT NOT NULL, tag TEXT NOT NULL, PRIMARY KEY (repo, tag)) WITHOUT ROWID;
"""
VERSION = "1"
LOCK_WAIT_S = 120  # a rebuild of 100,000 repositories holds the write lock for seconds

# what a rebuild reads from the layout: every repository, and the tags of one
Walk = Callable[[], Iterable[tuple[str, Iterable[str]]]]


class ListingIndex:
    """Sorted names, answered a page at a time: `names > last`, at most `n`. Blocking calls
    (run them off the event loop); every failure is OCIError(UNAVAILABLE) naming the file."""

    def __init__(self, path: Path, walk: Walk) -> None:
        self.path = Path(path)
        self.walk = walk
        self.lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=LOCK_WAIT_S, isolation_level=None, check_same_thread=False)
            db.executescript(SCHEMA)
            self._build_if_missing(db)
            self._db = db
        return self._db

    def _build_if_missing(self, db: sqlite3.Connection) -> None:
        if self._built(db):
            return
        db.execute("BEGIN IMMEDIATE")  # one builder; the others wait here, then see it built
        try:
            if not self._built(db):
                for repo, tags in self.walk():
                    db.execute("INSERT OR IGNORE INTO repositories(name) VALUES (?)", (repo,))
                    db.executemany("INSERT OR IGNORE INTO tags(repo, tag) VALUES (?, ?)",
                                   ((repo, tag) for tag in tags))
                db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('built', ?)", (VERSION,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    @staticmethod
    def _built(db: sqlite3.Connection) -> bool:
        row = db.execute("SELECT value FROM meta WHERE key='built'").fetchone()
        return row is not None and row[0] == VERSION

    def _run(self, what: str, fn: Callable[[sqlite3.Connection], list[str] | None]) -> list[str] | None:
        with self.lock:
            try:
                return fn(self._conn())
            except (sqlite3.Error, OSError) as exc:
                raise OCIError(errors.UNAVAILABLE, f"{what}: the listing index {self.path} failed ({exc}); if it "
                               "is damaged, remove it while no node runs: it is rebuilt from the directory") from None

    # ---- pages ----
    def repositories(self, n: int | None, last: str | None) -> list[str]:
        return self._run("listing repositories", lambda db: [row[0] for row in db.execute(
            "SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?", (last or "", _limit(n)))])

    def tags(self, repo: str, n: int | None, last: str | None) -> list[str]:
        return self._run(f"listing tags of {repo}", lambda db: [row[0] for row in db.execute(
            "SELECT tag FROM tags WHERE repo = ? AND tag > ? ORDER BY tag LIMIT ?", (repo, last or "", _limit(n)))])

    # ---- the write path ----
    def add(self, repo: str, tag: str | None) -> None:
        """A manifest of `repo` was stored (and `tag` pointed at it): list them. Writes only
        what is new, so re-pushing a tag takes no write lock."""
        def run(db: sqlite3.Connection) -> None:
            known = db.execute("SELECT 1 FROM repositories WHERE name = ?", (repo,)).fetchone()
            if tag is not None:
                known = known and db.execute("SELECT 1 FROM tags WHERE repo = ? AND tag = ?", (repo, tag)).fetchone()
            if known:
                return
            with db:
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT OR IGNORE INTO repositories(name) VALUES (?)", (repo,))
                if tag is not None:
                    db.execute("INSERT OR IGNORE INTO tags(repo, tag) VALUES (?, ?)", (repo, tag))
        self._run(f"listing {repo}" + (f":{tag}" if tag else ""), run)

    def forget(self, repo: str | None, names: list[str]) -> None:
        """Drop tags of `repo` (or repositories, when `repo` is None) that are gone from the layout."""
        if not names:
            return

        def run(db: sqlite3.Connection) -> None:
            with db:
                db.execute("BEGIN IMMEDIATE")
                if repo is None:
                    db.executemany("DELETE FROM repositories WHERE name = ?", ((name,) for name in names))
                else:
                    db.executemany("DELETE FROM tags WHERE repo = ? AND tag = ?", ((repo, tag) for tag in names))
        self._run("updating the listing index", run)

    def close(self) -> None:
        with self.lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _limit(n: int | None) -> int:
    return -1 if n is None else n  # SQLite: a negative LIMIT is no limit


def checked_page(fetch: Callable[[int | None, str | None], list[str]], present: Callable[[str], bool],
                 forget: Callable[[list[str]], None], n: int | None, last: str | None) -> list[str]:
    """At most `n` names after `last` that `present` confirms, reading `fetch` pages until
    enough are found or it runs out; names found missing are passed to `forget`."""
    found: list[str] = []
    cursor = last
    while n is None or len(found) < n:
        want = None if n is None else n - len(found)
        batch = fetch(want, cursor)
        gone = [name for name in batch if not present(name)]
        if gone:
            forget(gone)
            missing = set(gone)
            batch_found = [name for name in batch if name not in missing]
        else:
            batch_found = batch
        found += batch_found
        if not batch or want is None or len(batch) < want:
            break
        cursor = batch[-1]
    return found
