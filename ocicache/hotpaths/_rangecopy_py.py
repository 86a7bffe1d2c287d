"""Zero-copy range transfers, in Python: the twin of ext/_rangecopy_c.pyx.

os.sendfile and os.copy_file_range already release the GIL and retry EINTR.
"""
from __future__ import annotations

import errno
import os
import socket

IMPLEMENTATION = "python"

_FALLBACK_CHUNK = 1 << 20  # bytes per pread/pwrite when copy_file_range cannot be used
_FALLBACK_ERRNOS = frozenset({errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP})


def _check_range(offset: int, count: int) -> None:
    if offset < 0 or count < 0:
        raise ValueError(f"offset and count must be >= 0, got {offset} and {count}")


def sendfile(out_fd: int, in_fd: int, offset: int, count: int) -> int:
    """Send up to `count` bytes of `in_fd` from `offset` to the socket `out_fd` in one sendfile(2).

    Returns the bytes sent; 0 means `count` was 0 or `in_fd` has no data at
    `offset`. Raises BlockingIOError if the (non-blocking) socket accepted
    nothing, OSError for other errors. EINTR is retried.
    """
    _check_range(offset, count)
    return os.sendfile(out_fd, in_fd, offset, count)


def send_head_and_file(out_fd: int, head: bytes, in_fd: int, offset: int, count: int) -> int:
    """Send `head` with MSG_MORE, then up to `count` bytes of `in_fd` from `offset` in one sendfile(2).

    MSG_MORE makes the kernel hold the head for the file bytes that follow, so a response's
    headers and body leave in full segments, without a cork/uncork pair. Returns the bytes
    sent, head first: fewer than len(head) means only that much of the head went (call
    again with the rest); len(head) + n means n file bytes went, where n is 0 also when the
    socket filled after the head (continue with `sendfile`, whose 0 means end of file).
    Raises BlockingIOError if the (non-blocking) socket accepted nothing, OSError for other
    errors. EINTR is retried.
    """
    _check_range(offset, count)
    sock = socket.socket(fileno=out_fd)  # borrowed: detached below, never closed here
    try:
        put = sock.send(head, socket.MSG_MORE)
    finally:
        sock.detach()
    if put < len(head) or count == 0:
        return put
    try:
        return put + os.sendfile(out_fd, in_fd, offset, count)
    except BlockingIOError:
        return put


def _copy_with_syscall(in_fd: int, out_fd: int, in_offset: int, out_offset: int, count: int) -> tuple[int, int]:
    """copy_file_range(2) until `count` bytes are copied or EOF; returns (bytes copied, 0 or an errno)."""
    if not hasattr(os, "copy_file_range"):  # not Linux: the same as a kernel without the syscall
        return 0, errno.ENOSYS
    done = 0
    while done < count:
        try:
            n = os.copy_file_range(in_fd, out_fd, count - done, in_offset + done, out_offset + done)
        except OSError as exc:
            return done, exc.errno
        if n == 0:
            break
        done += n
    return done, 0


def _copy_with_pread(in_fd: int, out_fd: int, in_offset: int, out_offset: int, count: int) -> int:
    """pread(2)/pwrite(2) until `count` bytes are copied or EOF; returns bytes copied."""
    done = 0
    while done < count:
        chunk = os.pread(in_fd, min(count - done, _FALLBACK_CHUNK), in_offset + done)
        if not chunk:
            break
        with memoryview(chunk) as view:
            written = 0
            while written < len(view):
                written += os.pwrite(out_fd, view[written:], out_offset + done + written)
        done += written
    return done


def copy_range(in_fd: int, out_fd: int, in_offset: int, out_offset: int, count: int) -> int:
    """Copy up to `count` bytes from `in_fd` at `in_offset` to `out_fd` at `out_offset`.

    Uses copy_file_range(2), falling back to pread/pwrite when the kernel or
    filesystem refuses it (EXDEV, ENOSYS, EINVAL, EOPNOTSUPP). Stops early only
    at EOF of `in_fd`. Returns the bytes copied. Raises OSError on other
    errors, after which part of the range may have been copied.
    """
    _check_range(in_offset, count)
    _check_range(out_offset, count)
    done, err = _copy_with_syscall(in_fd, out_fd, in_offset, out_offset, count)
    if err in _FALLBACK_ERRNOS:
        done += _copy_with_pread(in_fd, out_fd, in_offset + done, out_offset + done, count - done)
    elif err:
        raise OSError(err, os.strerror(err))
    return done
