"""One fill per digest: a miss is fetched from the origin once, into the store's partial
file, and every client that wants the blob meanwhile reads it as it grows.

A fill starts from the origin's `open_blob`: one request gives the size and the bytes, so a
miss costs the origin one GET and no HEAD. Received bytes go to the fill's readers from memory
at once (writebehind.Window) while a thread of the fill hashes and writes them in order
(writebehind.WriteBehind); a reader further behind than the window reads the partial file.

Within a process the waiters share a `Fill` object; across the node's worker processes the
partial file itself is the lock (flock): the process holding it fills, the others follow
by watching the file grow, and learn the outcome when the lock is released (the committed
file exists, or it does not). The last byte of a blob is released to readers only after
the digest matched, so a client can never receive a whole blob that is wrong: on a
mismatch or an origin failure its connection is closed early.
"""
from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
from contextlib import aclosing, suppress
from typing import AsyncIterator, Callable

from .. import errors, metrics
from ..hotpaths import digest as hashing
from ..errors import OCIError
from ..hotpaths.fileio import close_soon
from ..hotpaths.libc import give_back_memory
from ..origin import Origin
from ..origin.retry import Backoff
from ..reference import Digest
from .blobstore import BlobStore
from .writebehind import Window, WriteBehind

log = logging.getLogger("ocicache.fill")
READ_CHUNK = 1024 * 1024
FILE_CHUNK = 256 * 1024    # what a reader behind the window reads of the partial file at a time
FOLLOW_POLL_S = 0.01
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class FillFailed(ConnectionAbortedError):
    """Raised to readers of a failed fill: their connection is closed before the last byte."""


class FillerGone(OCIError):
    """The fill failed without an answer of the origin to give (another worker filled it and
    failed, an I/O error): the caller may ask the origin itself."""


class OriginOverflow(Exception):
    """The origin sent more bytes than the blob's size: not retried, nothing kept."""


class CacheFull(FillFailed):
    """The fill stopped because the cache disk is full: nothing was kept, and the caller may
    serve the blob straight from the origin instead (CachingOrigin does)."""


class Fill:
    """A blob on its way from the origin into the store, readable while it grows."""

    def __init__(self, digest: Digest) -> None:
        self.digest = digest
        self.size: int | None = None
        self.readable = 0          # bytes readers may send now
        self.arrived = 0           # bytes received from the origin (in `window` or in the file)
        self.window = Window()
        self.failure: OCIError | None = None  # why this process's fill failed, in the origin's words
        self.done = False
        self.error: str | None = None
        self.no_space = False      # the error is a full cache disk (CacheFull)
        self.fd: int | None = None
        self.readers = 0
        self.finished = False      # the fill task has ended (the fd may still serve readers)
        self._changed = asyncio.Event()
        self.started = asyncio.get_running_loop().time()

    def publish(self, *, size: int | None = None, readable: int | None = None, done: bool = False,
                error: str | None = None) -> None:
        if size is not None:
            self.size = size
        if readable is not None:
            self.readable = readable
        self.done = self.done or done
        self.error = self.error or error
        old, self._changed = self._changed, asyncio.Event()
        old.set()

    async def changed(self) -> None:
        await self._changed.wait()

    async def wait_size(self) -> int:
        while self.size is None:
            if self.no_space:
                raise CacheFull(self.error)
            if self.error:
                raise self.failure or FillerGone(errors.UNAVAILABLE, self.error, detail={"digest": str(self.digest)})
            await self.changed()
        return self.size

    def release_fd(self) -> None:
        if self.finished and self.readers == 0 and self.fd is not None:
            close_soon(self.fd)
            self.fd = None


class Fills:
    def __init__(self, store: BlobStore, origin: Origin, retries: int = 3,
                 opened: Callable[[str, Digest, int], None] | None = None) -> None:
        """`opened(repo, digest, size)`: the origin has just answered a fill's GET for `repo`
        (called before any other worker can learn the size)."""
        self.store = store
        self.origin = origin
        self.opened = opened
        self.retries = retries
        self.backoff = Backoff(retries)
        self._fills: dict[Digest, Fill] = {}

    def in_flight(self) -> int:
        return len(self._fills)

    def running(self, digest: Digest) -> bool:
        """Whether this process has a fill of `digest` under way."""
        return digest in self._fills

    def snapshot(self) -> list[Fill]:
        """The fills running in this process now (the admin API lists them)."""
        return list(self._fills.values())

    async def get(self, repo: str, digest: Digest, size_hint: int | None = None) -> Fill:
        """The fill of `digest`, started if none is running; returns once its size is known."""
        fill = self._fills.get(digest)
        if fill is None:
            fill = self._fills[digest] = Fill(digest)
            metrics.fill_started()
            task = asyncio.create_task(self._run(fill, repo, size_hint))
            task.add_done_callback(lambda _t: self._ended(fill))
        else:
            metrics.cache_lookup("fill")
        await fill.wait_size()
        return fill

    def _ended(self, fill: Fill) -> None:
        if self._fills.get(fill.digest) is fill:
            del self._fills[fill.digest]
        fill.finished = True
        metrics.fill_ended(fill.error is None, asyncio.get_running_loop().time() - fill.started)
        fill.release_fd()
        if not self._fills:  # the last fill of this worker ended: its buffers are free
            asyncio.get_running_loop().run_in_executor(None, give_back_memory)

    async def read(self, fill: Fill, offset: int, length: int) -> AsyncIterator[bytes]:
        """Bytes [offset, offset+length) of a fill as they become readable."""
        fill.readers += 1
        try:
            end = offset + length
            while offset < end:
                if fill.error:
                    failed = CacheFull if fill.no_space else FillFailed
                    raise failed(f"fill of {fill.digest} failed: {fill.error}")
                available = min(fill.readable, end) - offset
                if available <= 0:
                    await fill.changed()
                    continue
                chunk = fill.window.get(offset, available)
                if chunk is None:  # not in memory (any more): written to the file
                    chunk = os.pread(fill.fd, min(available, FILE_CHUNK), offset)
                if not chunk:
                    raise FillFailed(f"partial file of {fill.digest} is shorter than published")
                offset += len(chunk)
                yield chunk
        finally:
            fill.readers -= 1
            fill.release_fd()

    # ---- the fill task ----
    async def _run(self, fill: Fill, repo: str, size_hint: int | None) -> None:
        try:
            owner = self._open_partial(fill)
            if owner is None:
                return  # committed meanwhile
            if owner:
                try:
                    await self._fill(fill, repo, size_hint)
                except OSError as exc:
                    if exc.errno not in NO_SPACE:
                        raise
                    fill.no_space = True
                    metrics.CACHE_FULL.inc()
                    raise self._fail(fill, f"cache disk full in {self.store.dir} ({exc.strerror}); "
                                     "the blob is served from the origin without caching") from None
                finally:
                    self.store.size_path(fill.digest).unlink(missing_ok=True)
                    fcntl.flock(fill.fd, fcntl.LOCK_UN)
            else:
                await self._follow(fill)
        except CacheFull as exc:  # no room for the size the origin gave: the caller serves it uncached
            fill.no_space = True
            self._discard(fill)
            fill.publish(error=str(exc))
        except OCIError as exc:
            fill.failure = exc
            fill.publish(error=exc.message)
        except Exception as exc:  # disk full, I/O error: readers must not hang
            log.exception("fill of %s failed", fill.digest)
            fill.publish(error=f"{type(exc).__name__}: {exc}")

    def _open_partial(self, fill: Fill) -> bool | None:
        """Open the partial file: True if this process fills, False if another does, None if
        the blob was committed meanwhile (then `fill` is published done on the committed file)."""
        path = self.store.partial_path(fill.digest)
        while True:
            committed = self.store.lookup(fill.digest)
            if committed is not None:
                fill.fd = os.open(committed, os.O_RDONLY)
                size = os.fstat(fill.fd).st_size
                fill.publish(size=size, readable=size, done=True)
                return None
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                owner = True
            except BlockingIOError:
                owner = False
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same and owner and self.store.blob_path(fill.digest).exists():
                # another worker committed between our lookup and our open (we created a fresh
                # partial file after its rename): serve the committed blob, do not fill again
                os.unlink(path)
                same = False
            if same:
                fill.fd = fd
                return owner
            os.close(fd)  # renamed or removed under us by a fill that just ended: look again

    async def _fill(self, fill: Fill, repo: str, size_hint: int | None) -> None:
        digest = fill.digest
        os.ftruncate(fill.fd, 0)
        self.store.count("misses")
        hasher = hashing.new(digest.algorithm)
        writes = WriteBehind(lambda chunk, offset: hasher.update_and_write(fill.fd, chunk, offset),
                             fill.window.written)
        try:
            await self._receive(fill, repo, size_hint, writes)
        except OCIError as exc:
            await writes.abandon()
            if fill.size is None:  # the origin's own answer (404, 503 with Retry-After): the client's
                self._discard(fill)
                if exc.code is not errors.BLOB_UNKNOWN:
                    log.warning("fill of %s from %s could not start: %s", fill.digest, repo, exc.message)
                raise
            raise self._fail(fill, exc.message) from None
        except OriginOverflow as exc:
            await writes.abandon()
            raise self._fail(fill, str(exc)) from None
        except BaseException:
            await writes.abandon()
            raise
        await writes.settle()  # a write that failed raises here (a full disk: see _run)
        fill.window.clear()
        size = fill.size
        if hasher.hexdigest() != digest.hex:
            raise self._fail(fill, f"origin sent bytes for {repo}@{digest} that hash to "
                             f"{digest.algorithm}:{hasher.hexdigest()}; nothing was kept, the next request retries")
        self.store.count("origin_bytes", size)
        metrics.ORIGIN_BYTES.inc(size)
        partial = self.store.partial_path(digest)
        if self.store.admit(digest, size):
            await asyncio.to_thread(self.store.commit, digest, partial, size)  # may evict: off the loop
            self.store.pins.note(repo, digest)
        else:
            partial.unlink(missing_ok=True)  # served to its waiters, not kept (admission)
        fill.publish(readable=size, done=True)

    async def _receive(self, fill: Fill, repo: str, size_hint: int | None, writes: WriteBehind) -> None:
        """Every byte from the origin into the window and the write-behind, resuming a broken
        transfer from where it got to; readers get all but the last byte as it arrives."""
        digest, failures = fill.digest, 0
        while True:
            try:
                stream = await self._stream(fill, repo, size_hint)
                async with aclosing(stream):
                    async for chunk in stream:
                        offset = fill.arrived
                        if offset + len(chunk) > fill.size:
                            raise OriginOverflow(f"origin sent more than the {fill.size} bytes of {digest}")
                        fill.window.add(offset, chunk)
                        fill.arrived = offset + len(chunk)
                        fill.publish(readable=min(fill.arrived, fill.size - 1))
                        await writes.add(chunk, offset)
                if fill.arrived == fill.size:
                    return
                raise OCIError(errors.UNAVAILABLE, f"origin ended {digest} after {fill.arrived} of {fill.size} bytes")
            except OCIError as exc:
                if fill.size is None or exc.code is not errors.UNAVAILABLE or not self.backoff.allows(failures + 1):
                    raise  # before the size, the request was retried already (RegistryHTTP._request)
                failures += 1
                log.warning("fill of %s from %s broke at byte %d of %s (%s); resuming (%d/%d)", digest, repo,
                            fill.arrived, fill.size, exc.message, failures, self.retries)
                await self.backoff.wait(failures)

    async def _stream(self, fill: Fill, repo: str, size_hint: int | None) -> AsyncIterator[bytes]:
        """The origin's bytes from `fill.arrived`: the first request also gives the size."""
        digest = fill.digest
        if fill.size is not None:
            return self.origin.read_blob(repo, digest, fill.arrived)
        opened = await self.origin.open_blob(repo, digest, fill.arrived)
        problem = None
        if size_hint is not None and opened.size != size_hint:
            problem = OCIError(errors.UNAVAILABLE, f"origin's GET of {digest} in {repo} gives {opened.size} "
                               f"bytes where it confirmed {size_hint}; retry the request")
        elif not self.store.has_room(opened.size):
            problem = CacheFull(f"no room in {self.store.dir} for the {opened.size} bytes of {digest}")
        if problem is not None:
            async with aclosing(opened.chunks) as chunks:
                with suppress(OCIError, StopAsyncIteration):
                    await chunks.__anext__()  # started, so that closing it releases the request
            raise problem
        if self.opened is not None:
            self.opened(repo, digest, opened.size)
        self.store.size_path(digest).write_text(str(opened.size))
        fill.publish(size=opened.size)
        return opened.chunks

    def _discard(self, fill: Fill) -> None:
        os.ftruncate(fill.fd, 0)  # followers in other workers must not take it for whole
        self.store.partial_path(fill.digest).unlink(missing_ok=True)

    def _fail(self, fill: Fill, message: str) -> OCIError:
        self._discard(fill)
        log.error("fill of %s failed: %s", fill.digest, message)
        return OCIError(errors.UNAVAILABLE, message, detail={"digest": str(fill.digest)})

    async def _follow(self, fill: Fill) -> None:
        """Track a fill run by another worker process through its partial file."""
        digest = fill.digest
        while True:
            if fill.size is None:
                try:
                    fill.publish(size=int(self.store.size_path(digest).read_text()))
                except (FileNotFoundError, ValueError):
                    pass
            try:
                fcntl.flock(fill.fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                if fill.size is not None:
                    fill.publish(readable=min(os.fstat(fill.fd).st_size, fill.size - 1))
                await asyncio.sleep(FOLLOW_POLL_S)
                continue
            fcntl.flock(fill.fd, fcntl.LOCK_UN)
            # The filler is gone. Its file is whole and right if it was committed, or if it
            # was served but not kept (admission); a failed fill truncated it; a killed one
            # may have left anything, so a whole-looking uncommitted file is rehashed.
            size = os.fstat(fill.fd).st_size
            committed = self.store.blob_path(digest)
            if committed.exists() and os.stat(committed).st_ino == os.fstat(fill.fd).st_ino:
                fill.publish(size=size, readable=size, done=True)
            elif size and size == fill.size and await asyncio.to_thread(_hashes_to, fill.fd, digest):
                fill.publish(readable=size, done=True)
            else:
                fill.publish(error=f"the worker filling {digest} failed; retry the request")
            return


def _hashes_to(fd: int, digest: Digest) -> bool:
    hasher = hashing.new(digest.algorithm)
    offset = 0
    while chunk := os.pread(fd, READ_CHUNK, offset):
        hasher.update(chunk)
        offset += len(chunk)
    return hasher.hexdigest() == digest.hex
