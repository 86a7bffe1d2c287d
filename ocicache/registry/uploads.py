"""Upload sessions: chunks hashed and written to a staging file as they arrive.

A session lives in `<data_dir>/uploads/<uuid>/` as `data` (the bytes so far) and
`state.json` (repository, offset, exported hash state, start time), rewritten after
every chunk, so a session survives a restart of the node. Each request re-reads the
state under a lock (an asyncio lock within the process, flock(2) on `lock` across the
node's worker processes), so requests to one session are serialised wherever they land.

Which hash: the algorithm of the digest named when the session was opened (a monolithic
POST ?digest=sha512:...), else sha256, the canonical one (a chunked upload names its digest
only at the final PUT). A final digest of another algorithm is verified by re-reading the
staged file once, 1 MiB at a time, as CNCF distribution does.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterable, AsyncIterator

from ..hotpaths import digest as hashing
from ..hotpaths.digest import Hasher
from ..hotpaths.libc import start_writeback
from ..origin.hashwrite import HashWriter
from ..origin.uploads import UUID_RE, UploadStore, flock_exclusive, load_hasher, state_key
from ..reference import Digest
from .expiry import expire_uploads

SAVE_EVERY = 64 * 1024 * 1024
WRITEBACK_EVERY = 8 * 1024 * 1024


@dataclass
class UploadSession:
    id: str
    repo: str
    dir: Path
    offset: int = 0
    started: float = field(default_factory=time.time)
    algorithm: str = "sha256"
    hasher: Hasher | None = None

    def __post_init__(self) -> None:
        if self.hasher is None:
            self.hasher = hashing.new(self.algorithm)

    @property
    def data_path(self) -> Path:
        return self.dir / "data"

    def save(self) -> None:
        state = {"repo": self.repo, "offset": self.offset, "started": self.started,
                 state_key(self.algorithm): self.hasher.export_state().hex()}
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(state))
        os.replace(tmp, self.dir / "state.json")

    @classmethod
    def load(cls, upload_id: str, directory: Path) -> "UploadSession | None":
        try:
            state = json.loads((directory / "state.json").read_text())
            algorithm, hasher = load_hasher(state)
            session = cls(upload_id, state["repo"], directory, int(state["offset"]), float(state["started"]),
                          algorithm, hasher)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        # The data file may hold bytes past the saved offset if the node died mid-chunk; they
        # were never acknowledged, so cut them off.
        try:
            if session.data_path.stat().st_size != session.offset:
                os.truncate(session.data_path, session.offset)
        except OSError:
            return None
        return session

    def range_header(self) -> str:
        """The spec's `Range: 0-<last byte>` (CNCF distribution sends 0-0 before the first byte)."""
        return f"0-{max(self.offset - 1, 0)}"


class Uploads(UploadStore):
    """Upload sessions staged on this node's disk, handed to the origin when complete."""

    def __init__(self, root: Path, chunk_bytes: int, origin) -> None:
        super().__init__()
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.chunk_bytes = chunk_bytes
        self.origin = origin

    async def create(self, repo: str, digest: Digest | None = None) -> UploadSession:
        upload_id = uuid.uuid4().hex
        directory = self.root / upload_id
        directory.mkdir(parents=True)
        (directory / "data").touch()
        (directory / "lock").touch()
        session = UploadSession(upload_id, repo, directory, algorithm=digest.algorithm if digest else "sha256")
        session.save()
        return session

    @asynccontextmanager
    async def open(self, repo: str, upload_id: str) -> AsyncIterator[UploadSession]:
        """The session, current as on disk, held exclusively until the block ends."""
        if not UUID_RE.fullmatch(upload_id):
            raise self.unknown(repo, upload_id)
        async with self.lock_for(upload_id):
            try:
                fd = os.open(self.root / upload_id / "lock", os.O_RDWR)
            except OSError:
                raise self.unknown(repo, upload_id) from None
            try:
                await flock_exclusive(fd)
                session = UploadSession.load(upload_id, self.root / upload_id)
                if session is None or session.repo != repo:
                    raise self.unknown(repo, upload_id)
                yield session
            finally:
                os.close(fd)

    async def discard(self, session: UploadSession) -> None:
        shutil.rmtree(session.dir, ignore_errors=True)

    async def expire(self, max_idle: float) -> int:
        """Remove sessions idle for more than `max_idle` seconds; returns how many."""
        return await asyncio.to_thread(expire_uploads, self.root, max_idle)

    async def commit(self, session: UploadSession, digest: Digest) -> None:
        if digest.algorithm == session.algorithm:
            actual = Digest.from_hex(session.hasher.hexdigest(), session.algorithm)
        else:  # named only now, in another algorithm than the session hashed with: read it again
            hexdigest = await asyncio.to_thread(hashing.hex_of_file, session.data_path, digest.algorithm)
            actual = Digest.from_hex(hexdigest, digest.algorithm)
        if actual != digest:
            await self.discard(session)
            raise self.digest_mismatch(session.repo, actual, digest)
        await self.origin.put_blob(digest, session.data_path)
        await self.discard(session)

    async def append(self, session: UploadSession, body: AsyncIterable[bytes],
                     expected: int | None = None) -> int:
        """Hash and write a request body at the session's offset; returns bytes appended.

        The pieces are hashed and written in a worker thread, a batch of `chunk_bytes` at a
        time, while the event loop receives the next batch (`HashWriter`; the C routine
        releases the GIL). Every WRITEBACK_EVERY bytes the kernel is told to start writing
        them to the disk (`start_writeback`, which does not wait), so the fsync before the
        blob is acknowledged finds little left to write. The offset and hash state are saved when the body ends (and
        every SAVE_EVERY bytes): bytes past the saved offset are cut off on the next load.
        A chunk of another length than `expected` is undone by `rollback` (the registry asks).
        """
        fd = os.open(session.data_path, os.O_WRONLY)
        writer = HashWriter(session.hasher, fd, session.offset, self.chunk_bytes)
        start = session.offset
        flushed = saved = 0   # bytes of this body handed to writeback / saved in state.json
        try:
            try:
                async for piece in body:
                    await writer.add(piece)
                    if writer.written - flushed >= WRITEBACK_EVERY:
                        start_writeback(fd, start + flushed, writer.written - flushed)
                        flushed = writer.written
                    if writer.written - saved >= SAVE_EVERY:
                        await writer.settle()   # the hash state matches the offset only when settled
                        session.offset = start + writer.written
                        session.save()
                        saved = writer.written
                await writer.settle()
            finally:
                await writer.close()
                session.offset = start + writer.written
                start_writeback(fd, start + flushed, writer.written - flushed)
        finally:
            os.close(fd)
            session.save()
        return session.offset - start

    @staticmethod
    def mark(session: UploadSession) -> tuple[int, Hasher]:
        """A point to roll a session back to (offset and hash state)."""
        return session.offset, session.hasher.copy()

    @staticmethod
    async def rollback(session: UploadSession, mark: tuple[int, Hasher]) -> None:
        session.offset, session.hasher = mark[0], mark[1]
        os.truncate(session.data_path, session.offset)
        session.save()
