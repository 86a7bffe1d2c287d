"""The tag cache's entries shared by the worker processes of a node, in the store's index.

One row per tag: the digest the origin answered (or the "unknown" error it gave) and when,
on the system-wide monotonic clock every worker reads. A worker whose memory is missing,
old, or older than its repository's generation reads the row, so revalidation,
stale_if_error and negative answers are the same whichever worker a request reaches.
"""
from __future__ import annotations

from .. import errors
from ..errors import OCIError
from ..reference import Digest
from .index import Index

SCHEMA = """CREATE TABLE IF NOT EXISTS tags (key TEXT PRIMARY KEY, digest TEXT, code TEXT,
                                             message TEXT, at REAL NOT NULL)"""
UNKNOWN = {errors.MANIFEST_UNKNOWN.code: errors.MANIFEST_UNKNOWN, errors.NAME_UNKNOWN.code: errors.NAME_UNKNOWN}


class SharedTags:
    def __init__(self, index: Index, scope: str = "") -> None:
        self.index, self.scope = index, scope
        with index.lock:
            index.db.execute(SCHEMA)

    def _key(self, repo: str, tag: str) -> str:
        return f"{self.scope}/{repo}:{tag}"

    def get(self, repo: str, tag: str) -> tuple[Digest | OCIError, float] | None:
        with self.index.lock:
            row = self.index.db.execute("SELECT digest, code, message, at FROM tags WHERE key=?",
                                        (self._key(repo, tag),)).fetchone()
        if row is None:
            return None
        digest, code, message, at = row
        if digest is not None:
            return Digest.parse(digest), at
        return OCIError(UNKNOWN.get(code, errors.MANIFEST_UNKNOWN), message, detail={"name": repo, "tag": tag}), at

    def put(self, repo: str, tag: str, value: Digest | OCIError, at: float) -> None:
        row = ((str(value), None, None) if isinstance(value, Digest)
               else (None, value.code.code, value.message))
        with self.index.lock:
            self.index.db.execute("INSERT OR REPLACE INTO tags VALUES (?, ?, ?, ?, ?)",
                                  (self._key(repo, tag), *row, at))

    def forget(self, repo: str, tag: str) -> None:
        with self.index.lock:
            self.index.db.execute("DELETE FROM tags WHERE key=?", (self._key(repo, tag),))

    def forget_repository(self, repo: str) -> None:
        prefix = f"{self.scope}/{repo}:"
        with self.index.lock:
            self.index.db.execute("DELETE FROM tags WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))
