"""HashWriter: the pieces of an upload hashed and written in a worker thread, in order, while
the event loop receives the next ones; with the C hasher and its Python twin."""
from __future__ import annotations

import asyncio
import errno
import hashlib
import os

import pytest

from ocicache.hotpaths.libc import start_writeback
from ocicache.origin.hashwrite import HashWriter

from ..hotpaths.conftest import load_digest


@pytest.fixture(params=["c", "python"])
def sha_impl(request, monkeypatch):
    return load_digest(request.param, monkeypatch)


def _pieces(data: bytes, sizes: list[int]) -> list[bytes]:
    out, at = [], 0
    for size in sizes:
        out.append(data[at:at + size])
        at += size
    out.append(data[at:])
    return [p for p in out if p]


@pytest.mark.parametrize("batch", [1, 4096, 1 << 20])
def test_pieces_land_in_order_at_their_offsets_and_hash_as_one(sha_impl, tmp_path, batch):
    data = os.urandom(3 << 20)
    pieces = _pieces(data, [1, 70_000, 65_536, 1 << 20, 3, 500_000])
    path = tmp_path / "data"
    path.write_bytes(b"head")
    fd = os.open(path, os.O_WRONLY)
    hasher = sha_impl.Sha256()
    hasher.update(b"head")

    async def run() -> int:
        writer = HashWriter(hasher, fd, 4, batch)
        for piece in pieces:
            await writer.add(piece)
            await asyncio.sleep(0)  # let the worker thread finish some batches, not others
        return await writer.settle()

    try:
        written = asyncio.run(run())
    finally:
        os.close(fd)
    assert written == len(data)
    assert path.read_bytes() == b"head" + data
    assert hasher.hexdigest() == hashlib.sha256(b"head" + data).hexdigest()


def test_memory_stays_within_two_batches_for_a_fast_sender(sha_impl, tmp_path):
    """With the thread always behind, `add` waits: never more than a batch gathered beside the
    one in flight."""
    batch = 64 * 1024
    fd = os.open(tmp_path / "data", os.O_WRONLY | os.O_CREAT)
    seen = []

    async def run() -> None:
        writer = HashWriter(sha_impl.Sha256(), fd, 0, batch)
        for _ in range(200):
            await writer.add(os.urandom(16 * 1024))
            seen.append(writer._gathered)
        await writer.settle()

    try:
        asyncio.run(run())
    finally:
        os.close(fd)
    assert max(seen) <= batch + 16 * 1024
    assert os.path.getsize(tmp_path / "data") == 200 * 16 * 1024


def test_a_failed_write_is_raised_and_nothing_after_it_is_written(sha_impl, tmp_path):
    path = tmp_path / "data"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)  # writes fail with EBADF
    hasher = sha_impl.Sha256()
    before = hasher.hexdigest()

    async def run() -> HashWriter:
        writer = HashWriter(hasher, fd, 0, 4096)
        with pytest.raises(OSError) as raised:
            for _ in range(50):
                await writer.add(b"x" * 8192)
            await writer.settle()
        assert raised.value.errno == errno.EBADF
        with pytest.raises(OSError):
            await writer.add(b"more")
        await writer.close()
        return writer

    try:
        writer = asyncio.run(run())
    finally:
        os.close(fd)
    assert writer.written == 0 and hasher.hexdigest() == before
    assert path.read_bytes() == b""


def test_a_cancelled_upload_waits_for_its_thread_before_returning(sha_impl, tmp_path):
    """Cancelling the request mid-batch still lets the thread finish before the descriptor can
    be closed: `written` then counts what is in the file."""
    path = tmp_path / "data"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)

    async def run() -> HashWriter:
        writer = HashWriter(sha_impl.Sha256(), fd, 0, 1 << 20)

        async def feed() -> None:
            while True:
                await writer.add(os.urandom(1 << 20))

        task = asyncio.ensure_future(feed())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await writer.close()
        return writer

    try:
        writer = asyncio.run(run())
    finally:
        os.close(fd)
    assert writer._in_flight is None
    assert os.path.getsize(path) == writer.written > 0


def test_start_writeback_accepts_any_range(tmp_path):
    path = tmp_path / "data"
    path.write_bytes(os.urandom(1 << 20))
    fd = os.open(path, os.O_WRONLY)
    try:
        start_writeback(fd, 0, 1 << 20)
        start_writeback(fd, 4096, 0)
        start_writeback(fd, 1 << 30, 4096)  # past the end: nothing to write back
    finally:
        os.close(fd)
    assert path.stat().st_size == 1 << 20
