"""Range-copy twins: sendfile through a real socket, copy_range between files."""
from __future__ import annotations

import errno
import os
import select
import socket
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# The implementation and source-file fixtures are constant across examples.
examples = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=60)

SOURCE_SIZE = 700_001  # larger than a socketpair's buffers, so the sender blocks


@dataclass
class Source:
    """A random file and its contents (left out of the repr Hypothesis prints)."""

    path: Path
    data: bytes = field(repr=False)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    data = os.urandom(SOURCE_SIZE)
    path = tmp_path_factory.mktemp("rangecopy") / "source"
    path.write_bytes(data)
    return Source(path, data)


def received_by_peer(sender: socket.socket, receiver: socket.socket, send) -> bytes:
    """Bytes that arrive at `receiver` while `send(sender_fd)` writes to the non-blocking
    `sender`; `send` is called again after BlockingIOError once the socket is writable, until
    it returns True (done). Both sockets are closed afterwards."""
    received = bytearray()

    def drain():
        while chunk := receiver.recv(1 << 16):
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        sender.setblocking(False)
        while True:
            try:
                if send(sender.fileno()):
                    break
            except BlockingIOError:
                select.select([], [sender], [], 5)
        sender.shutdown(socket.SHUT_WR)
        reader.join(10)
    finally:
        sender.close()
        receiver.close()
    return bytes(received)


def send_range(impl, path, offset: int, count: int) -> bytes:
    """Bytes that arrive at the peer when `impl.sendfile` sends [offset, offset+count) of `path`."""
    sender, receiver = socket.socketpair()
    with open(path, "rb") as f:
        sent = 0

        def step(fd: int) -> bool:
            nonlocal sent
            n = impl.sendfile(fd, f.fileno(), offset + sent, count - sent) if sent < count else 0
            sent += n
            return n == 0 or sent >= count

        return received_by_peer(sender, receiver, step)


@pytest.mark.parametrize(
    ("offset", "count"),
    [(0, 0), (SOURCE_SIZE - 1, 1), (SOURCE_SIZE, 10), (SOURCE_SIZE + 100, 10), (0, SOURCE_SIZE), (100, SOURCE_SIZE)],
    ids=["zero-length", "last-byte", "at-end", "past-end", "whole-file", "overrunning-end"],
)
def test_sendfile_edges(rc_impl, source, offset, count):
    path, data = source.path, source.data
    assert send_range(rc_impl, path, offset, count) == data[offset : offset + count]


@examples
@given(offset=st.integers(0, SOURCE_SIZE + 10), count=st.integers(0, SOURCE_SIZE))
def test_sendfile_random_ranges(rc_impl, source, offset, count):
    path, data = source.path, source.data
    assert send_range(rc_impl, path, offset, count) == data[offset : offset + count]


def test_sendfile_full_socket_raises_blocking(rc_impl, source):
    path = source.path
    sender, receiver = socket.socketpair()
    with sender, receiver, open(path, "rb") as f:
        sender.setblocking(False)
        with pytest.raises(BlockingIOError):
            offset = 0
            while True:  # nobody reads, so the socket buffer fills up
                offset += rc_impl.sendfile(sender.fileno(), f.fileno(), offset % SOURCE_SIZE, SOURCE_SIZE)


def test_sendfile_errors(rc_impl, source):
    path = source.path
    with open(path, "rb") as f, pytest.raises(OSError) as err:
        rc_impl.sendfile(f.fileno(), f.fileno(), 0, 10)  # out_fd is not a socket
    assert err.value.errno in (errno.EBADF, errno.EINVAL)
    with open(path, "rb") as f, pytest.raises(ValueError):
        rc_impl.sendfile(f.fileno(), f.fileno(), -1, 10)


def copy_into(impl, path, target: bytes, in_offset: int, out_offset: int, count: int) -> tuple[int, bytes]:
    """(return value, resulting file) of copying from `path` into a file that held `target`."""
    with open(path, "rb") as src, tempfile.TemporaryFile() as dst:
        dst.write(target)
        dst.flush()
        copied = impl.copy_range(src.fileno(), dst.fileno(), in_offset, out_offset, count)
        dst.seek(0)
        return copied, dst.read()


def expected_copy(data: bytes, target: bytes, in_offset: int, out_offset: int, count: int) -> tuple[int, bytes]:
    piece = data[in_offset : in_offset + count]
    image = bytearray(target)
    if piece:
        image.extend(bytes(max(0, out_offset + len(piece) - len(image))))
        image[out_offset : out_offset + len(piece)] = piece
    return len(piece), bytes(image)


@examples
@given(
    in_offset=st.integers(0, SOURCE_SIZE + 10),
    out_offset=st.integers(0, 300_000),
    count=st.integers(0, SOURCE_SIZE),
    target_size=st.integers(0, 100_000),
)
def test_copy_range_random_ranges(rc_impl, source, in_offset, out_offset, count, target_size):
    path, data = source.path, source.data
    target = os.urandom(target_size)
    assert copy_into(rc_impl, path, target, in_offset, out_offset, count) == expected_copy(
        data, target, in_offset, out_offset, count
    )


def test_copy_range_falls_back_on_overlap(rc_impl, tmp_path):
    """copy_file_range refuses overlapping ranges of one file (EINVAL); pread/pwrite does it."""
    data = os.urandom(4000)
    path = tmp_path / "same"
    path.write_bytes(data)
    with open(path, "r+b") as f:
        assert rc_impl.copy_range(f.fileno(), f.fileno(), 0, 500, 1000) == 1000
    assert path.read_bytes() == data[:500] + data[:1000] + data[1500:]


def test_copy_range_errors(rc_impl, source):
    path = source.path
    with open(path, "rb") as src:
        with pytest.raises(OSError) as err:
            rc_impl.copy_range(src.fileno(), src.fileno() + 1000, 0, 0, 10)
        assert err.value.errno == errno.EBADF
        with pytest.raises(ValueError):
            rc_impl.copy_range(src.fileno(), src.fileno(), 0, -5, 10)


def send_head_then_range(impl, path, head: bytes, offset: int, count: int, sock_type=socket.AF_UNIX) -> bytes:
    """Bytes that arrive when `impl.send_head_and_file` sends `head` and a range of `path`, the
    rest of the range going with `impl.sendfile` (as ocicache/http/body.py does)."""
    if sock_type == socket.AF_UNIX:
        sender, receiver = socket.socketpair()
    else:
        with socket.create_server(("127.0.0.1", 0)) as server:
            sender = socket.create_connection(server.getsockname())
            receiver, _ = server.accept()
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)  # the socket fills, head or body
    with open(path, "rb") as f:

        def step(fd: int) -> bool:
            nonlocal head, offset, count
            if head:
                n = impl.send_head_and_file(fd, head, f.fileno(), offset, count)
                body, head = max(0, n - len(head)), head[n:]
                offset, count = offset + body, count - body
                return False
            n = impl.sendfile(fd, f.fileno(), offset, count) if count > 0 else 0
            offset, count = offset + n, count - n
            return n == 0 or count <= 0

        return received_by_peer(sender, receiver, step)


@pytest.mark.parametrize("family", [socket.AF_UNIX, socket.AF_INET], ids=["unix", "tcp"])
@pytest.mark.parametrize(
    ("head_size", "offset", "count"),
    [(200, 0, SOURCE_SIZE), (1, 100, 5000), (300_000, 7, 1), (200, SOURCE_SIZE - 1, 10), (200, SOURCE_SIZE, 10)],
    ids=["whole-file", "tiny-head", "head-bigger-than-buffer", "overrunning-end", "at-end"],
)
def test_send_head_and_file(rc_impl, source, family, head_size, offset, count):
    """The head, then exactly the range: over a socketpair and over TCP (where MSG_MORE holds
    the head for the body), with heads and bodies larger than the socket's buffer."""
    head = os.urandom(head_size)
    got = send_head_then_range(rc_impl, source.path, head, offset, count, family)
    assert got == head + source.data[offset : offset + count]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None, max_examples=20)
@given(head_size=st.integers(1, 4000), offset=st.integers(0, SOURCE_SIZE + 10), count=st.integers(0, 200_000))
def test_send_head_and_file_random(rc_impl, source, head_size, offset, count):
    head = os.urandom(head_size)
    got = send_head_then_range(rc_impl, source.path, head, offset, count, socket.AF_INET)
    assert got == head + source.data[offset : offset + count]


def test_send_head_and_file_errors(rc_impl, source):
    with open(source.path, "rb") as f:
        with pytest.raises(OSError) as err:
            rc_impl.send_head_and_file(f.fileno(), b"head", f.fileno(), 0, 10)  # not a socket
        assert err.value.errno == errno.ENOTSOCK
        with pytest.raises(ValueError):
            rc_impl.send_head_and_file(f.fileno(), b"head", f.fileno(), 0, -1)
    sender, receiver = socket.socketpair()
    with sender, receiver, open(source.path, "rb") as f:
        sender.setblocking(False)
        with pytest.raises(BlockingIOError):
            while True:  # nobody reads: the buffer fills, then nothing at all is taken
                rc_impl.send_head_and_file(sender.fileno(), b"x" * 1000, f.fileno(), 0, SOURCE_SIZE)
        assert os.get_blocking(sender.fileno()) is False  # the borrowed socket object left the flags alone
