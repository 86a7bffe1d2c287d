"""What lets a fill stream at the origin's speed (fills.py): the bytes just received, kept in
memory for the fill's readers, and their hashing and writing, done in order on a thread of the
fill's own while the next bytes arrive.

- `Window`: the last `keep` bytes received, and every chunk not yet written, so a reader
  keeping up is fed from memory and never re-reads the partial file; one further behind
  reads the file (everything older than the window is written). Bounded: never a whole blob.
- `WriteBehind`: `add(chunk, offset)` hands a chunk to the hash+write thread and returns at once,
  unless more than `ahead` bytes are still unwritten (then it waits: memory stays bounded);
  `settle()` waits for every write and raises the first that failed.

The thread is the fill's own for its whole life (not a pool's task per chunk): it takes chunks
from a queue and says how far it got in one number, which the event loop reads when it needs to.
The loop is woken by it only while it waits for it (a full `ahead`, `settle`), so a fill that
keeps up costs no wake-up per chunk and no future per chunk.
"""
from __future__ import annotations

import asyncio
import threading
from collections import deque
from queue import SimpleQueue
from typing import Callable

KEEP_BYTES = 2 * 1024 * 1024     # written bytes kept in memory for readers a little behind
AHEAD_BYTES = 8 * 1024 * 1024    # received bytes allowed to wait for the hash+write thread


class Window:
    def __init__(self, keep: int = KEEP_BYTES) -> None:
        self.keep = keep
        self._chunks: deque[tuple[int, bytes]] = deque()  # (offset, bytes), in order
        self._bytes = 0

    def add(self, offset: int, chunk: bytes) -> None:
        self._chunks.append((offset, chunk))
        self._bytes += len(chunk)

    def written(self, upto: int) -> None:
        """Bytes before `upto` are in the file: forget the oldest beyond `keep`."""
        while self._chunks and self._bytes - len(self._chunks[0][1]) >= self.keep:
            start, chunk = self._chunks[0]
            if start + len(chunk) > upto:
                break
            self._chunks.popleft()
            self._bytes -= len(chunk)

    def clear(self) -> None:
        self._chunks.clear()
        self._bytes = 0

    def get(self, offset: int, limit: int) -> bytes | memoryview | None:
        """Up to `limit` bytes from `offset` if the window holds them, else None."""
        for start, chunk in reversed(self._chunks):
            if start <= offset < start + len(chunk):
                skip = offset - start
                if skip == 0 and len(chunk) <= limit:
                    return chunk
                return memoryview(chunk)[skip:skip + limit]
            if start + len(chunk) <= offset:
                return None
        return None


class WriteBehind:
    """Ordered `write(chunk, offset) -> None` calls on a thread of its own; `done(upto)` (on the
    event loop) once the bytes before `upto` are written."""

    def __init__(self, write: Callable[[bytes, int], object], done: Callable[[int], None],
                 ahead: int = AHEAD_BYTES) -> None:
        self._write, self._done, self.ahead = write, done, ahead
        self._queue: SimpleQueue[tuple[bytes, int] | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future, int | None] | None = None
        self._landed = 0             # end of the last write the thread finished (its side)
        self._failure: BaseException | None = None
        self._skip = False           # abandoned: the thread drops what is still queued
        self._stopped = False
        self.written = 0             # what the loop has accounted for (`done` called up to here)
        self._received = 0
        self._thread = threading.Thread(target=self._run, name="fill-write", daemon=True)
        self._thread.start()

    # ---- the thread ----
    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            chunk, offset = item
            end = offset + len(chunk)
            if self._failure is None and not self._skip:
                try:
                    self._write(chunk, offset)
                except BaseException as exc:  # handed to the loop: raised by add/settle
                    self._failure = exc
                else:
                    self._landed = end
            del item, chunk  # the window (or nobody) holds the bytes now, not this thread
            self._wake()
        self._stopped = True
        self._wake()

    def _wake(self) -> None:
        """Resolve the loop's wait if what it waits for happened (target None: the thread's end)."""
        with self._lock:
            if self._waiter is None:
                return
            loop, future, target = self._waiter
            if not (self._stopped or (target is not None and (self._failure is not None
                                                              or self._landed >= target))):
                return
            self._waiter = None
        loop.call_soon_threadsafe(_resolve, future)

    # ---- the loop ----
    async def add(self, chunk: bytes, offset: int) -> None:
        self._received = offset + len(chunk)
        self._queue.put((chunk, offset))
        self._reap()
        if self._received - self._landed > self.ahead:
            await self._until(self._received - self.ahead)

    def _reap(self) -> None:
        """Account for the writes that finished, in order; raise the first that failed."""
        if self._failure is not None:
            raise self._failure
        landed = self._landed
        if landed > self.written:
            self.written = landed
            self._done(landed)

    async def _until(self, target: int | None) -> None:
        """Wait until the writes before `target` landed or one failed (target None: until the
        thread has ended), then account for them."""
        loop = asyncio.get_running_loop()
        with self._lock:
            done = self._stopped or (target is not None and (self._landed >= target or self._failure is not None))
            if not done:
                future = loop.create_future()
                self._waiter = (loop, future, target)
        if not done:
            try:
                await future
            finally:
                self._waiter = None
        if target is not None:
            self._reap()

    async def settle(self) -> None:
        """Wait for every write handed over; raise the first failure."""
        try:
            await self._until(self._received)
        finally:
            self.close()

    async def abandon(self) -> None:
        """After a failure: the writes still queued are dropped and the one under way lands
        (so a truncation that follows is not undone by a late write); errors are ignored."""
        self._skip = True
        self.close()
        await self._until(None)

    def close(self) -> None:
        """The thread ends once it has done what is queued."""
        self._queue.put(None)


def _resolve(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
