"""Pinned repositories: their blobs are never evicted (`Index.evict_batch` skips them).

The store is addressed by digest and knows no repositories, so a pin is recorded twice:
the repository (`pinned_repos`), and each digest the node holds for it (`pinned_blobs`).
The admin API pins the digests of a repository's current tags when it pins it; every
later fill or manifest kept for a pinned repository is added by `note`. A digest stays
pinned while any pinned repository holds it. Both tables live in the store's index, so
every worker process and restarts see the same pins.
"""
from __future__ import annotations

import time
from typing import Iterable

from .index import Index


class Pins:
    def __init__(self, index: Index) -> None:
        self.index = index

    def pin(self, repo: str, digests: Iterable[str] = ()) -> None:
        """Pin `repo` and the digests given (its current content)."""
        with self.index.lock:
            db = self.index.db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute("INSERT OR IGNORE INTO pinned_repos VALUES (?, ?)", (repo, time.time()))
                db.executemany("INSERT OR IGNORE INTO pinned_blobs VALUES (?, ?)",
                               [(str(d), repo) for d in digests])
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def unpin(self, repo: str) -> bool:
        """Unpin `repo`; its blobs become evictable unless another pinned repository holds them.
        False if it was not pinned."""
        with self.index.lock:
            db = self.index.db
            cur = db.execute("DELETE FROM pinned_repos WHERE repo=?", (repo,))
            db.execute("DELETE FROM pinned_blobs WHERE repo=?", (repo,))
            return cur.rowcount > 0

    def note(self, repo: str, digest: object) -> None:
        """A blob was kept for `repo`: pin it too if `repo` is pinned."""
        with self.index.lock:
            self.index.db.execute("INSERT OR IGNORE INTO pinned_blobs SELECT ?, repo FROM pinned_repos "
                                  "WHERE repo=?", (str(digest), repo))

    def repositories(self) -> list[dict[str, object]]:
        """Pinned repositories with how many digests and bytes the store holds for each."""
        with self.index.lock:
            rows = self.index.db.execute(
                "SELECT r.repo, r.at, COUNT(b.digest), COALESCE(SUM(b.size), 0) FROM pinned_repos r "
                "LEFT JOIN pinned_blobs p ON p.repo = r.repo LEFT JOIN blobs b ON b.digest = p.digest "
                "GROUP BY r.repo ORDER BY r.repo").fetchall()
        return [{"repository": r, "pinned_at": at, "cached_blobs": n, "cached_bytes": size}
                for r, at, n, size in rows]

    def held(self) -> tuple[int, int]:
        """(blobs, bytes) the store holds that a pinned repository keeps from eviction."""
        with self.index.lock:
            count, total = self.index.db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs "
                "WHERE digest IN (SELECT digest FROM pinned_blobs)").fetchone()
        return count, total

    def is_pinned(self, digest: object) -> bool:
        with self.index.lock:
            return self.index.db.execute("SELECT 1 FROM pinned_blobs WHERE digest=? LIMIT 1",
                                         (str(digest),)).fetchone() is not None
