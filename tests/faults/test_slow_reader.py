"""A client reading 1 KiB/s holds its own connection only: other clients of the same blob,
cached or still being filled, get it as fast as if it were alone."""
from __future__ import annotations

import os
import threading
import time

import pytest

from ..ocisync import push_blob
from .probes import cached_files, held, leaks, open_get, read_head, settle
from .pulls import MiB, pull


class SlowReader(threading.Thread):
    """Reads a blob at 1 KiB/s through a 4 KiB receive buffer until stopped."""

    def __init__(self, edge, path: str) -> None:
        super().__init__(daemon=True)
        self.sock = open_get(edge, path, rcvbuf=4096)
        self.received = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        _, _, got = read_head(self.sock)
        self.received = len(got)
        while not self.stopping.wait(1.0):
            self.received += len(self.sock.recv(1024))

    def stop(self) -> None:
        self.stopping.set()
        self.join()
        self.sock.close()


@pytest.mark.parametrize("cached", [True, False], ids=["cached", "filling"])
def test_slow_reader_does_not_slow_other_clients(origin, proxy, make_edge, cached):
    data = os.urandom(8 * MiB)
    digest = push_blob(origin.url, "faults/slow", data)
    edge = make_edge()
    path = f"/v2/faults/slow/blobs/{digest}"
    if cached:
        assert pull(edge.url, path).complete
    baseline = held(edge.proc.pid, edge.port)[0]
    proxy.throttle_bps = 40 * MiB                    # alone, the blob takes 0.2 s from the origin
    slow = SlowReader(edge, path)
    slow.start()
    time.sleep(0.5)                                  # the slow reader is in (and started the fill)
    try:
        for _ in range(3):
            start = time.monotonic()
            fast = pull(edge.url, path)
            elapsed = time.monotonic() - start
            assert fast.complete and fast.body == data
            assert elapsed < 3, f"another client took {elapsed:.1f}s next to a 1 KiB/s reader"
        assert slow.is_alive() and slow.received < len(data) // 4
        assert cached_files(edge) == [digest[7:]]
    finally:
        slow.stop()
    assert settle(lambda: leaks(edge.proc.pid, edge.port, baseline), ([], 0)) == ([], 0)
