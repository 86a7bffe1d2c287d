"""glibc calls the standard library does not offer, through ctypes; each is a no-op where the
C library lacks it (musl has no malloc_trim).

    give_back_memory()               malloc_trim(0): the heap's free pages back to the OS
    start_writeback(fd, off, len)    sync_file_range(SYNC_FILE_RANGE_WRITE): start writing those
                                     pages to the disk without waiting
"""
from __future__ import annotations

import ctypes
import ctypes.util

_SYNC_FILE_RANGE_WRITE = 2
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_malloc_trim = getattr(_libc, "malloc_trim", None)
_sync_file_range = getattr(_libc, "sync_file_range", None)
if _sync_file_range is not None:
    _sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    _sync_file_range.restype = ctypes.c_int


def give_back_memory() -> None:
    """Return the heap's free pages to the OS. Buffers freed by Python stay with malloc for the
    process otherwise, so resident memory would stay at its peak. It walks the heap: call it off
    the event loop."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Start writing back `length` bytes of `fd` from `offset`. A failure is not reported: the
    fsync that follows reports what matters."""
    if _sync_file_range is not None and length > 0:
        _sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE)
