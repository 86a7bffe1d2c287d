"""Clients that go away mid-download and mid-upload: the node leaks no descriptors, threads,
fill tasks or partial files (checked through /proc and the cache folder), and a fill goes on
for the clients still waiting and is committed even when nobody is left."""
from __future__ import annotations

import os
import socket
import struct
import threading
import time

from ..ocisync import push_blob, request, sha
from .probes import cached_files, held, leaks, metric, open_get, partial_files, read_head, settle, threads
from .pulls import MiB, pull


def hang_up(sock: socket.socket) -> None:
    """Close with a reset (SO_LINGER 0), as a killed client does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def read_some(sock: socket.socket, nbytes: int) -> int:
    _, _, got = read_head(sock)
    received = len(got)
    while received < nbytes:
        more = sock.recv(65536)
        if not more:
            break
        received += len(more)
    return received


def test_download_disconnects_leak_nothing_and_the_fill_goes_on(origin, proxy, make_edge):
    blobs = [os.urandom(24 * MiB) for _ in range(3)]
    digests = [push_blob(origin.url, "faults/gone", b) for b in blobs]
    edge = make_edge()
    pid = edge.proc.pid
    warm = os.urandom(MiB)
    assert request(edge.url, "GET", f"/v2/faults/gone/blobs/{push_blob(origin.url, 'faults/gone', warm)}")[2] == warm
    baseline = held(pid, edge.port)[0]
    proxy.throttle_bps = 16 * MiB                    # each fill takes about 1.5 s
    thread_counts = []
    for i, digest in enumerate(digests[:2]):
        path = f"/v2/faults/gone/blobs/{digest}"
        quitters = [open_get(edge, path) for _ in range(3)]
        results: list = []
        stayer = threading.Thread(target=lambda: results.append(pull(edge.url, path)))
        stayer.start()
        for n, sock in enumerate(quitters):
            read_some(sock, (n + 1) * MiB)
            hang_up(sock)
        stayer.join()
        assert results[0].complete and results[0].body == blobs[i]
        assert cached_files(edge).count(digest[7:]) == 1
        assert settle(lambda: partial_files(edge), []) == []
        assert settle(lambda: metric(edge, "ocicache_fills_in_flight"), 0.0) == 0.0
        assert settle(lambda: leaks(pid, edge.port, baseline), ([], 0)) == ([], 0)
        thread_counts.append(threads(pid))
    assert thread_counts[0] == thread_counts[1], thread_counts   # nothing accumulates per round

    # the only client leaves: the fill still completes and is committed
    path = f"/v2/faults/gone/blobs/{digests[2]}"
    sock = open_get(edge, path)
    read_some(sock, MiB)
    hang_up(sock)
    assert settle(lambda: digests[2][7:] in cached_files(edge), True, timeout=15)
    proxy.reset()
    proxy.throttle_bps = None
    assert request(edge.url, "GET", path)[2] == blobs[2]
    assert proxy.counts[("GET", "blob")] == 0        # served from the store
    # a cached blob (sendfile path) abandoned mid-body
    for _ in range(3):
        sock = open_get(edge, path, rcvbuf=4096)
        read_some(sock, 256 * 1024)
        hang_up(sock)
    assert settle(lambda: leaks(pid, edge.port, baseline), ([], 0)) == ([], 0)
    assert partial_files(edge) == []


def test_upload_disconnects_leak_nothing(node):
    pid = node.proc.pid
    request(node.url, "GET", "/v2/")
    baseline = held(pid, node.port)[0]
    uploads = node.data_dir / "uploads"
    data = os.urandom(12 * MiB)
    digest = sha(data)

    def cut_off(method: str, path: str, headers: dict[str, str], nbytes: int) -> None:
        sock = socket.create_connection(("127.0.0.1", node.port))
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: {node.hostport}\r\nContent-Length: {len(data)}\r\n"
                     f"{head}\r\n".encode() + data[:nbytes])
        time.sleep(0.3)
        hang_up(sock)

    # a monolithic push cut off: the session and its bytes are gone
    cut_off("POST", f"/v2/faults/upgone/blobs/uploads/?digest={digest}", {}, 5 * MiB)
    assert settle(lambda: list(uploads.iterdir()) if uploads.exists() else [], []) == []
    assert settle(lambda: leaks(pid, node.port, baseline), ([], 0)) == ([], 0)
    # a chunk cut off: the session stays resumable at what arrived, and can be finished
    status, headers, _ = request(node.url, "POST", "/v2/faults/upgone/blobs/uploads/")
    location = headers["Location"]
    cut_off("PATCH", location, {"Content-Range": f"0-{len(data) - 1}"}, 5 * MiB)
    assert settle(lambda: leaks(pid, node.port, baseline), ([], 0)) == ([], 0)
    status, headers, _ = request(node.url, "GET", location)
    durable = int(headers["Range"].split("-")[1]) + 1
    assert status == 204 and 0 < durable <= 5 * MiB
    assert request(node.url, "PATCH", location, data[durable:],
                   {"Content-Range": f"{durable}-{len(data) - 1}"})[0] == 202
    assert request(node.url, "PUT", f"{location}?digest={digest}")[0] == 201
    assert request(node.url, "GET", f"/v2/faults/upgone/blobs/{digest}")[2] == data
    # an abandoned session is removed by DELETE
    status, headers, _ = request(node.url, "POST", "/v2/faults/upgone/blobs/uploads/")
    cut_off("PATCH", headers["Location"], {"Content-Range": f"0-{len(data) - 1}"}, 3 * MiB)
    assert request(node.url, "DELETE", headers["Location"])[0] == 204
    assert list(uploads.iterdir()) == []
    assert settle(lambda: leaks(pid, node.port, baseline), ([], 0)) == ([], 0)
