"""A forwarded upload session, and this node's copy of it, in the edge's spool (origin/forwarded.py).

`fwd-<id>.data` holds the bytes of a session opened here and seen whole here, `fwd-<id>.json`
its offset and hash state (`<id>`: a hash of the origin's upload id, which may hold characters
a file name should not). The `.data` file is written in place and never replaced, so it is
what flock(2) guards across the node's workers; the `.json` beside it is swapped for a new file
on every save. A finished copy that hashes to the pushed digest goes to the node's store
(`keep_if_whole`, `store`: `LocalCopies.keep`), and is taken out again when the origin then
refuses the push (`unkeep`). With no spool (an edge with no store) every method is a no-op.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..hotpaths import digest as hashing
from ..hotpaths.digest import Hasher
from ..reference import Digest
from .base import LocalCopies
from .uploads import load_hasher, state_key

log = logging.getLogger("ocicache.forwarded")


@dataclass
class ForwardedSession:
    id: str                 # the origin's id, plus "?<query>" when its Location carries one
    repo: str
    offset: int = 0
    hasher: Hasher | None = None   # set while this node holds a local copy of every byte
    algorithm: str = "sha256"
    confirmed: bool = True  # the offset is the origin's (False: this node's copy says it; `refresh`)

    @property
    def segment(self) -> str:
        return self.id.partition("?")[0]

    def range_header(self) -> str:
        return f"0-{max(self.offset - 1, 0)}"


class SessionCopies:
    def __init__(self, spool_dir: Path | None, local: LocalCopies | None = None) -> None:
        """`local`: the store that takes finished copies (needed by `store` and `unkeep`)."""
        self.spool_dir, self.local = spool_dir, local
        if spool_dir is not None:
            spool_dir.mkdir(parents=True, exist_ok=True)

    def paths_of(self, segment: str) -> tuple[Path, Path] | None:
        """(copy, state) in the spool of the session whose id's path segment is `segment`."""
        if self.spool_dir is None:
            return None
        name = hashlib.sha256(segment.encode()).hexdigest()[:32]
        return self.spool_dir / f"fwd-{name}.data", self.spool_dir / f"fwd-{name}.json"

    def paths(self, session: ForwardedSession) -> tuple[Path, Path] | None:
        return self.paths_of(session.segment)

    def begin(self, session: ForwardedSession) -> None:
        """The copy of a session holding no bytes yet: an empty `.data` and its fresh state."""
        paths = self.paths(session)
        if paths is None:
            return
        session.hasher = hashing.new(session.algorithm)
        paths[0].write_bytes(b"")
        self.save(session)

    def has_empty(self, session: ForwardedSession) -> bool:
        """Whether a copy `begin` made is still there (an expiry sweep may have taken it)."""
        paths = self.paths(session)
        return paths is not None and all(path.exists() for path in paths)

    def save(self, session: ForwardedSession) -> None:
        paths = self.paths(session)
        if paths is None or session.hasher is None:
            return
        tmp = paths[1].with_suffix(".tmp")
        tmp.write_text(json.dumps({"offset": session.offset,
                                   state_key(session.algorithm): session.hasher.export_state().hex()}))
        os.replace(tmp, paths[1])

    def load(self, session: ForwardedSession, trusted: bool = False) -> bool:
        """Take this node's copy of the session, if whole: with `trusted`, its offset as the
        session's (unconfirmed); else only if it agrees with the offset the origin gave."""
        paths = self.paths(session)
        if paths is None:
            return False
        if trusted and not paths[1].exists():
            return False
        try:
            state = json.loads(paths[1].read_text())
            algorithm, hasher = load_hasher(state)
            offset = int(state["offset"])
            if paths[0].stat().st_size < offset:
                raise ValueError("short copy")
        except (OSError, ValueError, KeyError, TypeError):
            self.drop(session)
            return False
        if trusted or (session.offset in (offset, 0) and (session.offset == offset or offset <= 1)):
            session.offset, session.hasher, session.algorithm = offset, hasher, algorithm
            session.confirmed = not trusted
            os.truncate(paths[0], offset)
            return True
        self.drop(session)  # another node appended to it: no whole copy here
        return False

    def drop(self, session: ForwardedSession) -> None:
        session.hasher = None
        for path in self.paths(session) or ():
            path.unlink(missing_ok=True)

    def expire(self, older_than: float) -> int:
        """Remove the copies of sessions idle for `older_than` seconds; returns how many."""
        if self.spool_dir is None:
            return 0
        expired = 0
        for path in self.spool_dir.glob("fwd-*.json"):
            try:
                if time.time() - path.stat().st_mtime > older_than:
                    path.unlink(missing_ok=True)
                    path.with_suffix(".data").unlink(missing_ok=True)
                    expired += 1
            except OSError:
                continue
        return expired

    # ---- a finished copy and the store ----
    async def digest(self, session: ForwardedSession, digest: Digest) -> Digest | None:
        """What the session's copy hashes to in `digest`'s algorithm; None without a copy."""
        paths = self.paths(session) if session.hasher is not None else None
        if paths is None:
            return None
        if digest.algorithm == session.algorithm:
            return Digest.from_hex(session.hasher.hexdigest(), digest.algorithm)
        return Digest.from_hex(await asyncio.to_thread(hashing.hex_of_file, paths[0], digest.algorithm),
                               digest.algorithm)

    async def keep_if_whole(self, session: ForwardedSession, digest: Digest, size: int) -> bool | None:
        """The copy (`size` bytes) to the store if it hashes to `digest`: True if the store took
        it (it did not hold the blob), False if it did not need it; None without a copy that
        hashes to `digest` (bytes came through another node) or when the store could not take it."""
        actual = await self.digest(session, digest)
        if actual is None:
            return None
        if actual != digest:
            self.drop(session)  # not whole here: bytes came through another node
            return None
        return await self.store(session, digest, size)

    async def store(self, session: ForwardedSession, digest: Digest, size: int) -> bool | None:
        """A verified copy to the store: `LocalCopies.keep`'s answer, None when the store could
        not take it (the push itself is done; the next pull fetches the blob)."""
        paths = self.paths(session)
        paths[1].unlink(missing_ok=True)
        try:
            return await asyncio.to_thread(self.local.keep, digest, paths[0], size)
        except OSError as exc:
            self.drop(session)
            log.warning("blob %s pushed to %s was not kept in this node's cache (%s); the next pull of it "
                        "fetches it from the origin; check the cache disk", digest, session.repo, exc)
            return None

    async def unkeep(self, digest: Digest | None, kept: bool | None) -> None:
        """Take out of the store a copy `keep_if_whole` put there for a PUT the origin did not take."""
        if digest is not None and kept:
            await asyncio.to_thread(self.local.forget, digest)
