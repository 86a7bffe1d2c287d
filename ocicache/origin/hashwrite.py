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

    async def add(self, piece: bytes) -> None:
        if self._failed is not None:
            raise self._failed
        self._pieces.append(piece)
        self._gathered += len(piece)
        if self._gathered >= self.batch or self._in_flight is None or self._in_flight.done():
            await self._hand_over()

    async def settle(self) -> int:
        """Everything added is hashed and written (or the first failure raised); bytes written."""
        if self._pieces and self._failed is None:
            await self._hand_over()
        await self._wait()
        if self._failed is not None:
            raise self._failed
        return self.written

    async def close(self) -> None:
        """Wait for the batch in flight and write nothing more (an upload ending on an error)."""
        self._pieces, self._gathered = [], 0
        await self._wait()

    async def _hand_over(self) -> None:
        await self._wait()
        if self._failed is not None:
            raise self._failed
        pieces, self._pieces, size, self._gathered = self._pieces, [], self._gathered, 0
        loop = asyncio.get_running_loop()
        self._in_flight = loop.run_in_executor(None, _hash_and_write, self.hasher, self.fd, pieces, self.offset)
        self.offset += size

    async def _wait(self) -> None:
        if self._in_flight is None:
            return
        in_flight = self._in_flight
        try:
            # shielded: a cancelled request still waits for its thread before the fd is closed
            done, error = await asyncio.shield(in_flight)
        except asyncio.CancelledError:
            done, error = await in_flight
            self._account(done, error)
            raise
        self._account(done, error)

    def _account(self, done: int, error: BaseException | None) -> None:
        self._in_flight = None
        self.written += done
        if error is not None and self._failed is None:
            self._failed = error
