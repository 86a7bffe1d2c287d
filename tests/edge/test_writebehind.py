"""The fill's in-memory window and its ordered hash+write thread (cache/writebehind.py), alone."""
from __future__ import annotations

import asyncio
import os
import threading

import pytest

from ocicache.cache.writebehind import Window, WriteBehind


def test_window_serves_what_it_holds_and_forgets_only_written_bytes_beyond_keep():
    window = Window(keep=8)
    for offset in range(0, 20, 4):
        window.add(offset, bytes(range(offset, offset + 4)))
    assert window.get(5, 100) == bytes([5, 6, 7])
    assert window.get(8, 4) == bytes([8, 9, 10, 11])
    assert window.get(20, 4) is None                # not arrived
    window.written(2)                               # the first chunk is not whole in the file: kept
    assert window.get(0, 2) == bytes([0, 1])
    window.written(4)                               # now it is, and 16 bytes remain (>= keep)
    assert window.get(0, 2) is None and window.get(4, 2) == bytes([4, 5])
    window.written(20)
    assert window.get(0, 2) is None and window.get(11, 1) is None  # forgotten: read the file
    assert window.get(12, 8) == bytes(range(12, 16))  # the last `keep` bytes stay
    window.clear()
    assert window.get(16, 4) is None


def test_write_behind_writes_in_order_bounded_and_raises_the_first_failure(tmp_path):
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    done: list[int] = []

    async def run(fail_at: int | None) -> list[int]:
        def write(chunk: bytes, offset: int) -> None:
            if offset == fail_at:
                raise OSError(28, "No space left on device")
            os.pwrite(fd, chunk, offset)

        writes = WriteBehind(write, done.append, ahead=8)
        for offset in range(0, 64, 4):
            await writes.add(bytes([offset]) * 4, offset)
            assert offset + 4 - writes.written <= 8 + 4  # never more than `ahead` waiting
        await writes.settle()
        return done

    assert asyncio.run(run(None))[-1] == 64
    assert done == sorted(set(done))                # told in order, each point once
    assert os.pread(fd, 64, 0) == b"".join(bytes([o]) * 4 for o in range(0, 64, 4))
    done.clear()
    os.ftruncate(fd, 0)
    with pytest.raises(OSError):
        asyncio.run(run(32))
    assert max(done, default=0) <= 32               # nothing past the failure counts as written
    assert os.fstat(fd).st_size == 32               # every write before it landed, none after
    os.close(fd)


def test_write_behind_abandoned_drops_what_is_queued_and_returns_once_the_thread_ended(tmp_path):
    fd = os.open(tmp_path / "f", os.O_RDWR | os.O_CREAT)
    started, release = threading.Event(), threading.Event()

    def write(chunk: bytes, offset: int) -> None:
        started.set()
        release.wait(10)                            # the first write is under way when abandoned
        os.pwrite(fd, chunk, offset)

    async def run() -> WriteBehind:
        writes = WriteBehind(write, lambda upto: None, ahead=64)
        for offset in range(0, 16, 4):
            await writes.add(b"x" * 4, offset)
        assert await asyncio.to_thread(started.wait, 10)
        abandoned = asyncio.ensure_future(writes.abandon())
        await asyncio.sleep(0.05)
        assert not abandoned.done()                 # waits for the write under way
        release.set()
        await abandoned
        return writes

    writes = asyncio.run(run())
    assert not writes._thread.is_alive()
    assert os.fstat(fd).st_size == 4                # the write under way landed, the queued ones did not
    os.close(fd)
