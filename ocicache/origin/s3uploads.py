"""Blob uploads written through to S3 while the client is still sending.

A session lives in the bucket, so any node of the fleet can continue it (GeoDNS may send
the next PATCH elsewhere) and a restarted node picks it up:

    _uploads/<id>/state.json    repository, offset, hash state, multipart id, parts, tail
    _uploads/<id>/tail-<offset> bytes after the last whole part (fewer than part_bytes)
    _uploads/<id>/data          the multipart upload's key (or the blob's own key when the
                                client named the digest up front)

Invariant: offset = bytes in the parts + bytes in the tail; the saved hash state covers
exactly the parts (the tail is hashed when it becomes a part, or at commit). Parts are
`part_bytes` long (S3 wants at least 5 MiB but the last); at most `parts_in_flight` are
uploaded at once, so a session holds at most (parts_in_flight + 1) x part_bytes in memory.

The hash is the algorithm of the digest named at creation (monolithic push), else sha256; a
final digest of another algorithm (a chunked sha512 push) is verified by reading the
completed object back from the bucket once, 1 MiB at a time, before it becomes the blob.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterable, AsyncIterator, Callable, Protocol

from cachetools import LRUCache

from ..hotpaths import digest as hashing
from ..hotpaths.digest import Hasher
from ..reference import Digest
from . import layout
from .s3client import S3, Missing
from .uploads import UUID_RE, UploadStore, load_hasher, state_key

log = logging.getLogger("ocicache.s3uploads")
READ_CHUNK = 1024 * 1024


@dataclass
class S3Session:
    id: str
    repo: str
    state: dict[str, Any]
    hasher: Hasher
    tail: bytes | None = None      # the tail's bytes once read (or just written) by this node
    previous_tail: bytes = b""     # the tail before the last append (restored by a rollback)
    algorithm: str = "sha256"      # what `hasher` computes

    @property
    def offset(self) -> int:
        return self.state["offset"]

    def range_header(self) -> str:
        return f"0-{max(self.offset - 1, 0)}"


class Bucket(Protocol):
    """What the sessions need of the S3 origin: its client and where its keys live."""

    s3: S3

    def key(self, relative: str) -> str:
        """The object key of a path relative to the distribution layout's root."""


class S3Uploads(UploadStore):
    """`keep(digest, path, size)`, when given, receives a local copy of a blob whose every
    byte went through this node (the pushing node keeps what it pushed in its cache); the
    copy is spooled to `spool_dir` while the upload runs and dropped if another node took
    part in the upload."""

    def __init__(self, origin: Bucket, part_bytes: int = 8 << 20, parts_in_flight: int = 2,
                 spool_dir: Path | None = None, keep: Callable[[Digest, Path, int], None] | None = None) -> None:
        super().__init__()
        self.origin = origin
        self.s3 = origin.s3
        self.part_bytes = part_bytes
        self.parts_in_flight = parts_in_flight
        self.spool_dir = spool_dir if keep is not None else None
        self.keep = keep
        self._created_here: LRUCache[str, bool] = LRUCache(10_000)  # sessions this node may spool

    def _key(self, upload_id: str, name: str) -> str:
        return self.origin.key(f"{layout.uploads_dir(upload_id)}/{name}")

    # ---- state ----
    async def _save(self, session: S3Session) -> None:
        state = dict(session.state, saved=time.time())
        state[state_key(session.algorithm)] = session.hasher.export_state().hex()
        await self.s3.put(self._key(session.id, "state.json"), json.dumps(state).encode(),
                          f"saving upload {session.id}")

    async def create(self, repo: str, digest: Digest | None = None) -> S3Session:
        upload_id = uuid.uuid4().hex
        data_key = self.origin.key(layout.blob_data(digest)) if digest else self._key(upload_id, "data")
        state = {"repo": repo, "started": time.time(), "offset": 0, "data_key": data_key,
                 "multipart_id": None, "parts": [], "tail_key": None, "tail_size": 0}
        algorithm = digest.algorithm if digest else "sha256"
        session = S3Session(upload_id, repo, state, hashing.new(algorithm), tail=b"", algorithm=algorithm)
        await self._save(session)
        self._created_here[upload_id] = True
        return session

    @asynccontextmanager
    async def open(self, repo: str, upload_id: str) -> AsyncIterator[S3Session]:
        if not UUID_RE.fullmatch(upload_id):
            raise self.unknown(repo, upload_id)
        async with self.lock_for(upload_id):
            raw = await self.s3.get_or_none(self._key(upload_id, "state.json"), f"reading upload {upload_id}")
            try:
                state = json.loads(raw) if raw is not None else None
                algorithm, hasher = load_hasher(state) if state else ("sha256", None)
                if state:
                    del state[state_key(algorithm)]
            except (ValueError, KeyError, TypeError, AttributeError):
                state = None
            if state is None or state.get("repo") != repo:
                raise self.unknown(repo, upload_id)
            yield S3Session(upload_id, repo, state, hasher, algorithm=algorithm)

    async def _tail(self, session: S3Session) -> bytes:
        if session.tail is None:
            key = session.state["tail_key"]
            session.tail = b"" if key is None else await self.s3.get(key, f"reading upload {session.id}'s tail")
        return session.tail

    # ---- appending ----
    async def _ensure_multipart(self, session: S3Session) -> str:
        if session.state["multipart_id"] is None:
            session.state["multipart_id"] = await self.s3.start_multipart(
                session.state["data_key"], f"starting the multipart upload of {session.id}")
        return session.state["multipart_id"]

    async def _upload_part(self, session: S3Session, number: int, data: bytes, gate: asyncio.Semaphore) -> dict:
        try:
            etag = await self.s3.upload_part(session.state["data_key"], session.state["multipart_id"], number,
                                             data, f"uploading part {number} of upload {session.id}")
            return {"PartNumber": number, "ETag": etag}
        finally:
            gate.release()

    def _spool(self, session: S3Session) -> int | None:
        """A local copy to append to, if it holds exactly the session's bytes so far."""
        if self.spool_dir is None or session.id not in self._created_here:
            return None
        path = self.spool_dir / f"upload-{session.id}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        except OSError:
            return None
        if os.fstat(fd).st_size != session.offset:  # another node took part: no whole copy here
            os.close(fd)
            path.unlink(missing_ok=True)
            return None
        return fd

    async def append(self, session: S3Session, body: AsyncIterable[bytes], expected: int | None = None) -> int:
        """Cut the tail plus the body into parts, upload them (a bounded number at once) while
        the body streams in, and save the new state with what is left as the tail. A chunk of
        another length than `expected` is undone by `rollback` (the registry asks)."""
        session.previous_tail = await self._tail(session)
        spool = self._spool(session)
        try:
            return await self._append(session, body, spool)
        finally:
            if spool is not None:
                os.close(spool)

    async def _append(self, session: S3Session, body: AsyncIterable[bytes], spool: int | None) -> int:
        buf = bytearray(session.previous_tail)
        base_parts = len(session.state["parts"])
        gate = asyncio.Semaphore(self.parts_in_flight)
        uploads: list[asyncio.Task] = []
        appended = 0
        try:
            async for piece in body:
                if spool is not None:
                    os.pwrite(spool, piece, session.offset + appended)
                buf += piece
                appended += len(piece)
                while len(buf) >= self.part_bytes:
                    part = bytes(buf[:self.part_bytes])
                    del buf[:self.part_bytes]
                    session.hasher.update(part)
                    await self._ensure_multipart(session)
                    await gate.acquire()
                    number = base_parts + len(uploads) + 1
                    uploads.append(asyncio.create_task(self._upload_part(session, number, part, gate)))
        finally:
            done = await asyncio.gather(*uploads, return_exceptions=True)
        failed = [d for d in done if isinstance(d, BaseException)]
        if failed:
            raise failed[0]
        session.state["parts"].extend(done)
        session.state["offset"] += appended
        await self._replace_tail(session, bytes(buf))
        return appended

    async def _replace_tail(self, session: S3Session, tail: bytes) -> None:
        old_key = session.state["tail_key"]
        new_key = self._key(session.id, f"tail-{session.offset}") if tail else None
        if new_key:
            await self.s3.put(new_key, tail, f"saving the tail of upload {session.id}")
        session.state["tail_key"], session.state["tail_size"], session.tail = new_key, len(tail), tail
        await self._save(session)
        if old_key and old_key != new_key:
            await self.s3.delete(old_key, f"dropping an old tail of upload {session.id}")

    def mark(self, session: S3Session) -> tuple[dict, bytes, bytes | None]:
        return json.loads(json.dumps(session.state)), session.hasher.export_state(), session.tail

    async def rollback(self, session: S3Session, mark: tuple[dict, bytes, bytes | None]) -> None:
        """Back to the state before a refused chunk; parts it uploaded are overwritten later."""
        refused_tail = session.state["tail_key"]
        session.state, session.hasher = mark[0], hashing.from_state(session.algorithm, mark[1])
        session.tail = session.previous_tail
        if session.state["tail_key"]:  # the append replaced (and deleted) it: put it back
            await self.s3.put(session.state["tail_key"], session.tail, f"restoring upload {session.id}'s tail")
        await self._save(session)
        if refused_tail and refused_tail != session.state["tail_key"]:
            await self.s3.delete(refused_tail, f"dropping a refused chunk of upload {session.id}")

    # ---- finishing ----
    async def commit(self, session: S3Session, digest: Digest) -> None:
        tail = await self._tail(session)
        target = self.origin.key(layout.blob_data(digest))
        data_key, multipart = session.state["data_key"], session.state["multipart_id"]
        if digest.algorithm == session.algorithm or multipart is None:  # the state covers it (or no parts)
            whole = session.hasher.copy() if digest.algorithm == session.algorithm else hashing.new(digest.algorithm)
            whole.update(tail)
            await self._verify(session, digest, whole.hexdigest())
        if multipart is None:  # small: one PutObject straight to the blob's key
            await self.s3.put(target, tail, f"writing blob {digest}")
        else:
            parts = list(session.state["parts"])
            if tail:
                parts.append({"PartNumber": len(parts) + 1, "ETag": await self.s3.upload_part(
                    data_key, multipart, len(parts) + 1, tail, f"uploading the last part of {session.id}")})
            await self.s3.complete_multipart(data_key, multipart, parts, f"completing blob {digest}")
            session.state["multipart_id"] = None  # completed: nothing to abort
            if digest.algorithm != session.algorithm:
                await self._verify(session, digest, await self._rehash(session, data_key, digest.algorithm))
            if data_key != target:
                await self.s3.copy(data_key, target, f"moving upload {session.id} to blob {digest}")
        await self._keep_local_copy(session, digest)
        await self.discard(session)

    async def _verify(self, session: S3Session, digest: Digest, hexdigest: str) -> None:
        actual = Digest.from_hex(hexdigest, digest.algorithm)
        if actual != digest:
            await self.discard(session)
            raise self.digest_mismatch(session.repo, actual, digest)

    async def _rehash(self, session: S3Session, key: str, algorithm: str) -> str:
        """The `algorithm` digest of an object, read back 1 MiB at a time in a worker thread
        (a digest named only at the end, in another algorithm than the session hashed)."""
        def run() -> str:
            hasher = hashing.new(algorithm)
            body = self.s3.open_range(key, 0, None)
            try:
                while chunk := body.read(READ_CHUNK):
                    hasher.update(chunk)
            finally:
                body.close()
            return hasher.hexdigest()
        return await self.s3.call(f"reading upload {session.id} back to verify its {algorithm} digest", run)

    async def _keep_local_copy(self, session: S3Session, digest: Digest) -> None:
        if self.spool_dir is None:
            return
        path = self.spool_dir / f"upload-{session.id}"
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return
        if size == session.offset:
            await asyncio.to_thread(self.keep, digest, path, size)

    async def discard(self, session: S3Session) -> None:
        multipart = session.state.get("multipart_id")
        if multipart:
            await self.s3.abort_multipart(session.state["data_key"], multipart, f"aborting upload {session.id}")
        await self.s3.delete_prefix(self._key(session.id, ""), f"deleting upload {session.id}")
        if self.spool_dir is not None:
            (self.spool_dir / f"upload-{session.id}").unlink(missing_ok=True)

    async def expire(self, older_than: float) -> int:
        """Abort and delete sessions idle for more than `older_than` seconds, and local copies
        of uploads that another node finished; returns how many sessions were expired."""
        if self.spool_dir is not None:
            for spool in self.spool_dir.glob("upload-*"):
                with contextlib.suppress(FileNotFoundError):
                    if time.time() - spool.stat().st_mtime > older_than:
                        spool.unlink()
        prefix = self.origin.key(layout.UPLOADS) + "/"
        expired = 0
        for key in await self.s3.list_keys(prefix, "listing upload sessions"):
            if not key.endswith("/state.json"):
                continue
            try:
                state = json.loads(await self.s3.get(key, "reading an upload session"))
            except (Missing, ValueError):
                continue
            if time.time() - float(state.get("saved", state.get("started", 0))) < older_than:
                continue
            upload_id = key[len(prefix):].split("/")[0]
            for algorithm in hashing.ALGORITHMS:
                state.pop(state_key(algorithm), None)
            await self.discard(S3Session(upload_id, state.get("repo", ""), state, hashing.new("sha256")))
            log.info("expired upload %s of %s (started %s)", upload_id, state.get("repo"), state.get("started"))
            expired += 1
        return expired
