"""One write counter per repository, shared by the worker processes of a node.

A small file (SLOTS x 8 bytes) mapped by every worker. A write acknowledged by any worker
(push, tag move, delete, mount, purge) bumps its repository's slot before the answer goes
out; an answer kept in memory remembers the slot's value read before it was fetched and is
trusted only while the slot still holds it. Reading a slot is one 8-byte read from shared
memory (no system call), so memory answers keep their speed; two repositories hashing to
the same slot only cost a refetch. Bumps take an flock so none is lost between workers.
"""
from __future__ import annotations

import fcntl
import mmap
import os
import struct
import zlib
from pathlib import Path

SLOTS = 4096
_U64 = struct.Struct("<Q")


class Generations:
    def __init__(self, path: Path | None = None) -> None:
        """`path`: the node's shared file (created if missing); None keeps the counters in
        this process only (tests, a single worker)."""
        self.path = path
        if path is None:
            self._fd = -1
            self._map: mmap.mmap | bytearray = bytearray(SLOTS * _U64.size)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        if os.fstat(self._fd).st_size < SLOTS * _U64.size:
            os.ftruncate(self._fd, SLOTS * _U64.size)
        self._map = mmap.mmap(self._fd, SLOTS * _U64.size)

    @staticmethod
    def _slot(repo: str) -> int:
        return (zlib.crc32(repo.encode()) % SLOTS) * _U64.size

    def get(self, repo: str) -> int:
        """The repository's current generation: read it before fetching what you will keep."""
        return _U64.unpack_from(self._map, self._slot(repo))[0]

    def bump(self, repo: str) -> None:
        """After a write to `repo` succeeded (or may have): every worker's memory of it is old."""
        offset = self._slot(repo)
        if self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            _U64.pack_into(self._map, offset, _U64.unpack_from(self._map, offset)[0] + 1)
        finally:
            if self._fd >= 0:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def bump_all(self) -> None:
        """A purge of everything: every slot moves."""
        for slot in range(SLOTS):
            offset = slot * _U64.size
            _U64.pack_into(self._map, offset, _U64.unpack_from(self._map, offset)[0] + 1)

    def close(self) -> None:
        if self._fd >= 0:
            self._map.close()
            os.close(self._fd)
            self._fd = -1
