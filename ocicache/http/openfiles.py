"""Hot blob files kept open, as nginx's `open_file_cache`: no open/close per request.

Each worker process has its own `OpenFiles` (descriptors are per process). An entry is a
descriptor of one blob file, keyed by its path, and is trusted only while the file is still
linked: every `acquire` does one fstat(2) of the kept descriptor, and a file whose link count
fell to 0 (removed by a delete, a purge, an eviction or gc, or replaced by a rename over its
path: blob files are only ever unlinked or renamed over, never rewritten) is dropped and its
path opened afresh, so a removed blob is never served from here. The fstat also gives the
size the body must reach. Between requests a sweep runs every SWEEP_SECONDS while anything
is kept: it drops unlinked files (so an evicted blob's disk space is not held by a descriptor
for longer than that) and files not asked for in INACTIVE_SECONDS (nginx's `inactive`).

Bounded by count (least recently used first out), not by bytes: a descriptor holds no blob
data in memory. A descriptor in use by a response is closed only when its last user releases
it, so an entry dropped meanwhile never closes a descriptor under a sendfile. Closing goes
through `close_soon`: the last close of an unlinked file frees its page cache, not on the loop.
"""
from __future__ import annotations

import asyncio
import os
import time
from collections import OrderedDict
from dataclasses import dataclass

from ..hotpaths.fileio import close_soon

MAX_OPEN_FILES = 256
"""Descriptors one worker keeps open (a blob served more than this far apart is reopened)."""
SWEEP_SECONDS = 1.0
INACTIVE_SECONDS = 30.0


@dataclass(eq=False)
class OpenFile:
    """One kept descriptor; `users` counts the responses sending from it right now."""

    fd: int
    size: int
    users: int = 0
    dropped: bool = False
    used: float = 0.0


class OpenFiles:
    def __init__(self, max_files: int = MAX_OPEN_FILES, inactive: float = INACTIVE_SECONDS,
                 sweep_every: float = SWEEP_SECONDS) -> None:
        self.max_files = max_files
        self.inactive = inactive
        self.sweep_every = sweep_every
        self._files: OrderedDict[str, OpenFile] = OrderedDict()
        self._sweeping: asyncio.TimerHandle | None = None
        self._sweep_loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        return len(self._files)

    def acquire(self, path: str) -> OpenFile:
        """An open descriptor of `path` (FileNotFoundError if it is gone); `release` it after."""
        entry = self._files.get(path)
        if entry is not None:
            st = os.fstat(entry.fd)
            if st.st_nlink > 0:
                self._files.move_to_end(path)
                entry.size = st.st_size
                entry.users += 1
                entry.used = time.monotonic()
                return entry
            self._drop(path)
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            size = os.fstat(fd).st_size
        except OSError:
            os.close(fd)
            raise
        entry = OpenFile(fd, size, users=1, used=time.monotonic())
        if self.max_files > 0:
            self._files[path] = entry
            while len(self._files) > self.max_files:
                self._drop(next(iter(self._files)))
            self._schedule_sweep()
        else:
            entry.dropped = True
        return entry

    def release(self, entry: OpenFile) -> None:
        entry.users -= 1
        if entry.dropped and entry.users == 0:
            close_soon(entry.fd)

    def forget(self, path: str) -> None:
        """Drop `path`'s descriptor (closed once nobody sends from it)."""
        if path in self._files:
            self._drop(path)

    def clear(self) -> None:
        for path in list(self._files):
            self._drop(path)

    def sweep(self) -> None:
        """Drop what is unlinked or was not asked for in `inactive` seconds."""
        idle_since = time.monotonic() - self.inactive
        for path, entry in list(self._files.items()):
            try:
                gone = os.fstat(entry.fd).st_nlink == 0
            except OSError:
                gone = True
            if gone or entry.used < idle_since:
                self._drop(path)

    def _schedule_sweep(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a test calling directly): `sweep` is called by hand
        if self._sweeping is not None and self._sweep_loop is loop:
            return  # (a timer of a loop that has since ended never fires: a new one is set)
        self._sweep_loop = loop
        self._sweeping = loop.call_later(self.sweep_every, self._swept)

    def _swept(self) -> None:
        self._sweeping = None
        self.sweep()
        if self._files:
            self._schedule_sweep()

    def _drop(self, path: str) -> None:
        entry = self._files.pop(path)
        entry.dropped = True
        if entry.users == 0:
            close_soon(entry.fd)
