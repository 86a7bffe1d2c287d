"""The small-blob path's parts, on the C extension and on its Python twin: body.py's
sendfile_range (head with MSG_MORE, then sendfile, waiting only when the socket is full) sends
exactly the head and the range from a descriptor of the open-file cache, and the open-file
cache never hands out a removed or replaced file, stays within its bound and never closes a
descriptor still in use."""
from __future__ import annotations

import asyncio
import hashlib
import os
import socket

import pytest

from ocicache.http import body
from ocicache.http.openfiles import OpenFiles

SIZE = 300_001  # larger than the socket buffers below: the sender has to wait


async def received_through(loop, rc_impl, monkeypatch, files: OpenFiles, path, head: bytes,
                           offset: int, count: int) -> bytes:
    """What a peer reads when body.sendfile_range sends `head` and a range of `path`, taken
    from `files`, over a small-buffered TCP connection."""
    monkeypatch.setattr(body, "rangecopy", rc_impl)
    with socket.create_server(("127.0.0.1", 0)) as server:
        sender = socket.create_connection(server.getsockname())
        receiver, _ = server.accept()
    with sender, receiver:
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        sender.setblocking(False)
        receiver.setblocking(False)
        kept = files.acquire(str(path))
        try:
            sending = asyncio.ensure_future(body.sendfile_range(loop, sender.fileno(), kept.fd, offset, count, head))
            received = bytearray()
            while len(received) < len(head) + count:
                received += await loop.sock_recv(receiver, 1 << 16)
            await sending
        finally:
            files.release(kept)
    return bytes(received)


@pytest.fixture
def blob(tmp_path):
    data = os.urandom(SIZE)
    path = tmp_path / "data"
    path.write_bytes(data)
    return path, data


@pytest.mark.parametrize(("offset", "count"), [(0, SIZE), (1234, 1), (SIZE - 10, 10)],
                         ids=["whole", "one-byte", "tail"])
async def test_sendfile_range_sends_head_and_range(rc_impl, monkeypatch, blob, offset, count):
    path, data = blob
    files = OpenFiles()
    head = b"HTTP/1.1 200 OK\r\n" + os.urandom(500) + b"\r\n\r\n"
    loop = asyncio.get_running_loop()
    for _ in range(2):  # the second time from the kept descriptor
        got = await received_through(loop, rc_impl, monkeypatch, files, path, head, offset, count)
        assert got == head + data[offset:offset + count]
    assert len(files) == 1


async def test_sendfile_range_refuses_a_short_file(rc_impl, monkeypatch, blob):
    path, _ = blob
    monkeypatch.setattr(body, "rangecopy", rc_impl)
    sender, receiver = socket.socketpair()
    files = OpenFiles()
    kept = files.acquire(str(path))
    with sender, receiver, pytest.raises(ConnectionAbortedError):
        sender.setblocking(False)
        await body.sendfile_range(asyncio.get_running_loop(), sender.fileno(), kept.fd, SIZE - 5, 10, b"")
    files.release(kept)


def test_a_removed_file_is_never_handed_out(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"old")
    files = OpenFiles()
    first = files.acquire(str(path))
    files.release(first)
    path.unlink()
    with pytest.raises(FileNotFoundError):
        files.acquire(str(path))
    assert len(files) == 0


def test_a_file_replaced_by_rename_is_reopened(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"old")
    files = OpenFiles()
    files.release(files.acquire(str(path)))
    (tmp_path / "new").write_bytes(b"newer")
    os.rename(tmp_path / "new", path)
    kept = files.acquire(str(path))
    assert os.pread(kept.fd, 10, 0) == b"newer" and kept.size == 5
    files.release(kept)


def test_bounded_by_count_and_in_use_descriptors_stay_open(tmp_path):
    paths = []
    for i in range(5):
        paths.append(tmp_path / f"b{i}")
        paths[-1].write_bytes(b"%d" % i)
    files = OpenFiles(max_files=3)
    busy = files.acquire(str(paths[0]))
    for p in paths[1:]:
        files.release(files.acquire(str(p)))
    assert len(files) == 3                       # paths[0] was pushed out, least recently used
    assert os.pread(busy.fd, 1, 0) == b"0"       # but its descriptor stays open while in use
    files.release(busy)
    with pytest.raises(OSError):
        os.fstat(busy.fd)                        # closed by its last user (no loop: at once)


def test_the_sweep_drops_unlinked_and_idle_files(tmp_path):
    gone, idle = tmp_path / "gone", tmp_path / "idle"
    gone.write_bytes(b"g")
    idle.write_bytes(b"i")
    files = OpenFiles(inactive=3600)
    for p in (gone, idle):
        files.release(files.acquire(str(p)))
    gone.unlink()
    files.sweep()
    assert len(files) == 1
    files.inactive = -1                          # anything not asked for since now is idle
    files.sweep()
    assert len(files) == 0


def test_nothing_is_kept_with_a_bound_of_zero(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"x")
    files = OpenFiles(max_files=0)
    kept = files.acquire(str(path))
    files.release(kept)
    assert len(files) == 0
    with pytest.raises(OSError):
        os.fstat(kept.fd)


class Counting:
    """A range-copy implementation that counts its head-and-body sends."""

    def __init__(self, impl) -> None:
        self.impl, self.heads = impl, 0
        self.sendfile = impl.sendfile

    def send_head_and_file(self, *args):
        self.heads += 1
        return self.impl.send_head_and_file(*args)


async def test_a_blob_get_sends_its_headers_with_the_body(rc_impl, monkeypatch, client):
    """Through the app over TCP: the response's headers go out in send_head_and_file (MSG_MORE),
    not in a write of their own, and the bytes are whole, on the C and the Python twin."""
    counting = Counting(rc_impl)
    monkeypatch.setattr(body, "rangecopy", counting)
    data = os.urandom(SIZE)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    resp = await client.post("/v2/heads/blob/blobs/uploads/", params={"digest": digest}, data=data)
    assert resp.status == 201
    resp = await client.get(f"/v2/heads/blob/blobs/{digest}")
    assert resp.status == 200 and resp.headers["Docker-Content-Digest"] == digest
    assert await resp.read() == data
    assert counting.heads >= 1
