"""What lets a fill stream at the origin's speed (fills.py): the bytes just received, kept in
memory for the fill's readers, and their hashing and writing, done in order on a thread of the
fill's own while the next bytes arrive.

- `Window`: the last `keep` bytes received, and every chunk not yet written, so a reader
  keeping up is fed from memory and never re-reads the partial file; one further behind
  reads the file (everything older than the window is written). Bounded: never a whole blob.
- `WriteBehind`: `add(chunk, offset)` hands a chunk to the hash+write thread and returns at once,
  unless more than `ahead` bytes are still unwritten (then it waits: memory stays bounded);
  `settle()` waits for every write and raises the first that failed.
"""
from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

KEEP_BYTES = 4 * 1024 * 1024     # written bytes kept in memory for readers a little behind
AHEAD_BYTES = 16 * 1024 * 1024   # received bytes allowed to wait for the hash+write thread


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
    """Ordered `write(chunk, offset) -> None` calls on one thread; `done(upto)` after each."""

    def __init__(self, write: Callable[[bytes, int], object], done: Callable[[int], None],
                 ahead: int = AHEAD_BYTES) -> None:
        self._write, self._done, self.ahead = write, done, ahead
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="fill")
        self._pending: deque[tuple[asyncio.Future, int]] = deque()  # (write, end offset)
        self.written = 0
        self._received = 0

    async def add(self, chunk: bytes, offset: int) -> None:
        loop = asyncio.get_running_loop()
        self._received = offset + len(chunk)
        self._pending.append((loop.run_in_executor(self._pool, self._write, chunk, offset), self._received))
        self._reap()
        while self._received - self.written > self.ahead:
            await asyncio.wait([self._pending[0][0]])
            self._reap()

    def _reap(self) -> None:
        """Account for the writes that finished, in order; raise the first that failed."""
        while self._pending and self._pending[0][0].done():
            future, end = self._pending.popleft()
            future.result()
            self.written = end
            self._done(end)

    async def settle(self) -> None:
        """Wait for every write handed over; raise the first failure."""
        try:
            while self._pending:
                await asyncio.wait([self._pending[0][0]])
                self._reap()
        finally:
            self.close()

    async def abandon(self) -> None:
        """After a failure: let the writes already handed over land (so a truncation that
        follows is not undone by a late write), ignoring their errors."""
        futures = [future for future, _ in self._pending]
        self._pending.clear()
        if futures:
            await asyncio.gather(*futures, return_exceptions=True)
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=False)
