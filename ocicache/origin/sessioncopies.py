"""A forwarded upload session, and this node's copy of it, in the edge's spool (origin/forwarded.py).

`fwd-<id>.data` holds the bytes of a session opened here and seen whole here, `fwd-<id>.json`
its offset and hash state (`<id>`: a hash of the origin's upload id, which may hold characters
a file name should not). The `.data` file is written in place and never replaced, so it is
what flock(2) guards across the node's workers; the `.json` beside it is swapped for a new file
on every save. With no spool (an edge with no store) every method is a no-op.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..hotpaths.digest import Hasher
from .uploads import load_hasher, state_key


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
    def __init__(self, spool_dir: Path | None) -> None:
        self.spool_dir = spool_dir
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
