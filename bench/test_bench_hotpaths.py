"""Micro-benchmarks of the hot paths, over the C extension, the Python twin and hashlib.

Run: .venv/bin/python -m pytest bench -p no:cacheprovider --benchmark-only
"""
from __future__ import annotations

import itertools
import os

import pytest

CHUNK = 1 << 20
SLOTS = 16  # the write benchmarks cycle over this many chunk-sized offsets of one file


@pytest.mark.parametrize("size", [64 << 10, 1 << 20], ids=["64KiB", "1MiB"])
def test_sha256(benchmark, new_hasher, size):
    benchmark.group = f"sha256 {size >> 10} KiB"
    data = os.urandom(size)

    def run():
        h = new_hasher()
        h.update(data)
        return h.digest()

    benchmark(run)


@pytest.fixture
def target_fd(tmp_path):
    """A file on disk to write 1 MiB chunks into, preallocated to SLOTS chunks."""
    fd = os.open(tmp_path / "target", os.O_RDWR | os.O_CREAT, 0o600)
    os.pwrite(fd, bytes(CHUNK * SLOTS), 0)
    yield fd
    os.close(fd)


def test_update_and_write_fused(benchmark, new_fused_hasher, target_fd):
    benchmark.group = "hash + write 1 MiB"
    data = os.urandom(CHUNK)
    h = new_fused_hasher()
    offsets = itertools.cycle(range(0, CHUNK * SLOTS, CHUNK))
    benchmark(lambda: h.update_and_write(target_fd, data, next(offsets)))


def test_update_then_pwrite(benchmark, new_hasher, target_fd):
    benchmark.group = "hash + write 1 MiB"
    data = os.urandom(CHUNK)
    h = new_hasher()
    offsets = itertools.cycle(range(0, CHUNK * SLOTS, CHUNK))

    def run():
        h.update(data)
        os.pwrite(target_fd, data, next(offsets))

    benchmark(run)
