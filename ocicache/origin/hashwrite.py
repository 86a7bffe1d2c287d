"""Hashing and writing an upload's bytes off the event loop, pipelined with their receipt.

`HashWriter(hasher, fd, offset)`: `await add(piece)` hands the pieces a request body arrives in
to a worker thread, which hashes and pwrite()s them in order at consecutive offsets (the C
routine releases the GIL) while the event loop receives the next ones. A piece goes at once
when the thread is free; while it is busy, pieces are gathered (a list of them as they are:
no copy) into a batch of up to `batch` bytes, handed over when the thread is done. One batch is
in flight at a time, so the hasher is used by one thread at a time and the order of the bytes
is kept; `add` waits when the next batch is full and the one before is not yet written, so an
upload holds at most two batches in memory whatever its size and its sender's speed.
`await settle()` writes what is gathered and waits for it; `written` counts the bytes hashed
and written so far. A failed write (disk full) is raised by the `add` or `settle` after it,
with `written` counting what went in before it; nothing more is written after a failure.
Every path that ends an upload awaits `settle()` (or `close()`) before closing `fd`: a worker
thread must never write to a descriptor number that was closed and reused. The hasher's state
matches `written` only once settled: save a session's state after `settle()`, never between.

`start_writeback(fd, offset, length)` (hotpaths/libc.py): sync_file_range(2) SYNC_FILE_RANGE_WRITE, which has the
kernel start writing those pages to the disk and returns without waiting. An upload calls it as
it goes, so the fsync before its 201 waits for the last few MiB rather than for the whole blob
(the kernel's own writeback starts only past dirty_background_ratio, gigabytes on most hosts).
"""
from __future__ import annotations

import asyncio
from typing import Any, AsyncIterable, AsyncIterator, Awaitable, Callable

from ..hotpaths.digest import Hasher

BATCH_BYTES = 1024 * 1024

def _hash_and_write(hasher: Hasher, fd: int, pieces: list[bytes], offset: int) -> tuple[int, BaseException | None]:
    """In the worker thread: (bytes written, the error that stopped it or None)."""
    done = 0
    try:
        for piece in pieces:
            done += hasher.update_and_write(fd, piece, offset + done)
    except OSError as exc:
        return done, exc
    return done, None


class HashWriter:
    def __init__(self, hasher: Hasher, fd: int, offset: int, batch: int = BATCH_BYTES) -> None:
        self.hasher, self.fd, self.batch = hasher, fd, batch
        self.offset = offset              # where the next batch is written
        self.written = 0
        self._pieces: list[bytes] = []
        self._gathered = 0
        self._in_flight: asyncio.Future | None = None
        self._failed: BaseException | None = None
        self._closed = False

    async def add(self, piece: bytes) -> None:
        if self._failed is not None:
            raise self._failed
        self._pieces.append(piece)
        self._gathered += len(piece)
        while self._gathered >= self.batch and self._in_flight is not None:
            await self._wait()  # two batches in memory at most: this one and the one in flight
        if self._failed is not None:
            raise self._failed
        if self._in_flight is None:
            self._start()

    async def settle(self) -> int:
        """Everything added is hashed and written (or the first failure raised); bytes written."""
        while self._failed is None and (self._pieces or self._in_flight is not None):
            if self._in_flight is None:
                self._start()
            await self._wait()
        if self._failed is not None:
            raise self._failed
        return self.written

    async def close(self) -> None:
        """Wait for the batch in flight and write nothing more (an upload ending on an error)."""
        self._closed = True
        self._pieces, self._gathered = [], 0
        while self._in_flight is not None:
            await self._wait()

    def _start(self) -> None:
        pieces, self._pieces, size, self._gathered = self._pieces, [], self._gathered, 0
        loop = asyncio.get_running_loop()
        self._in_flight = loop.run_in_executor(None, _hash_and_write, self.hasher, self.fd, pieces, self.offset)
        self._in_flight.add_done_callback(self._done)
        self.offset += size

    def _done(self, in_flight: asyncio.Future) -> None:
        """A batch is written (on the loop, before anyone awaiting it resumes): the pieces
        gathered meanwhile go at once, so the copy keeps up with a sender that pauses. Run once
        per batch: by the loop's callback, or by `_wait` when it saw the batch done first."""
        if in_flight is not self._in_flight:
            return
        try:
            done, error = in_flight.result()
        except BaseException as exc:  # not an OSError of the write: a bug, raised by the next step
            done, error = 0, exc
        self._in_flight = None
        self.written += done
        if error is not None and self._failed is None:
            self._failed = error
        if self._pieces and self._failed is None and not self._closed:
            self._start()

    async def _wait(self) -> None:
        """Until the batch in flight now is written (shielded: a cancelled request still waits
        for its thread before the descriptor is closed)."""
        in_flight = self._in_flight
        if in_flight is None:
            return
        try:
            await asyncio.shield(in_flight)  # a batch done already: returns without a loop turn
        except asyncio.CancelledError:
            await asyncio.wait([in_flight])
            self._done(in_flight)
            raise
        self._done(in_flight)


class CopiedBody:
    """A request body passed on piece by piece while `copy` (a HashWriter, or None) hashes and
    writes a copy of it. A copy that cannot be written (the disk full) is given up (`copying`
    False) and the pieces still go through. Once the body has ended with the copy whole, the
    copy is settled in a task of its own, then `then()` runs (keeping the copy): both while the
    receiver of the pieces is still answering, not after. `sent` counts the pieces passed on.

    `await finish()` waits for all of it (or closes the copy when the body did not end) and
    returns `then()`'s result (None without it, or when the copy is not whole); every path
    awaits it before closing the copy's descriptor.
    """

    def __init__(self, body: AsyncIterable[bytes], copy: HashWriter | None,
                 then: Callable[[], Awaitable[Any]] | None = None) -> None:
        self.body, self.copy, self.then = body, copy, then
        self.sent = 0
        self.copying = copy is not None
        self._ending: asyncio.Task | None = None

    async def pieces(self) -> AsyncIterator[bytes]:
        async for piece in self.body:
            if self.copying:
                try:
                    await self.copy.add(piece)
                except OSError:
                    self.copying = False
            self.sent += len(piece)
            yield piece
        if self.copying:
            self._ending = asyncio.get_running_loop().create_task(self._end())

    async def _end(self) -> Any:
        try:
            await self.copy.settle()
        except OSError:
            self.copying = False
            return None
        return None if self.then is None else await self.then()

    async def finish(self) -> Any:
        if self._ending is None:
            if self.copy is not None:
                self.copying = False  # the body did not end: the copy is not whole
                await self.copy.close()
            return None
        ending = self._ending
        try:
            return await asyncio.shield(ending)
        except asyncio.CancelledError:
            await asyncio.wait([ending])  # no thread may write to the descriptor once it is closed
            raise
