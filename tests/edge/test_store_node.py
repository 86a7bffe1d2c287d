"""The edge node's store as a whole: eviction under a skewed load, restart, kill -9 during a
fill, and the `ocicache cache` commands."""
from __future__ import annotations

import http.client
import os
import random
import signal
import subprocess
import sys
import threading
import time

from ..faults.probes import settle
from ..ocisync import request
from .origins import push_blob

KiB = 1024
MiB = 1024 * KiB


def store_bytes(edge) -> int:
    return sum(p.stat().st_size for p in (edge.data_dir / "cache" / "blobs").rglob("*") if p.is_file())


def cli(edge, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ocicache", "cache", *args, "--data-dir", str(edge.data_dir)],
                          capture_output=True, text=True, timeout=120)


def test_skewed_load_keeps_hot_blobs_within_budget_and_survives_restart(origin, proxy, make_edge):
    blobs = [os.urandom(100 * KiB) for _ in range(30)]
    digests = [push_blob(origin.url, "edge/lru", b) for b in blobs]
    budget = 10 * 100 * KiB + 50 * KiB             # room for 10 of the 30
    edge = make_edge("--cache-max-bytes", str(budget), OCICACHE_CACHE_HIGH_WATERMARK="1.0",
                     OCICACHE_CACHE_LOW_WATERMARK="0.8")
    rng = random.Random(3)
    hot = digests[:3]
    for step in range(90):
        digest = rng.choice(hot) if step % 2 else rng.choice(digests)
        status, _, body = request(edge.url, "GET", f"/v2/edge/lru/blobs/{digest}")
        assert status == 200 and body == blobs[digests.index(digest)]
        # A request served by the other worker ends once the filler's committed file appears
        # (cache/fills.py, following a fill), which can be before the eviction that the filler's
        # commit starts is done: the bound holds once it is.
        assert settle(lambda: store_bytes(edge) <= budget, True)
    for digest in hot:
        assert (edge.data_dir / "cache" / "blobs" / "sha256" / digest[7:9] / digest[7:]).exists()
    before = cli(edge, "stats").stdout
    edge.stop()
    edge.start()
    assert cli(edge, "stats").stdout.splitlines()[1] == before.splitlines()[1]   # same entries
    proxy.reset()
    for digest in hot:
        assert request(edge.url, "GET", f"/v2/edge/lru/blobs/{digest}")[0] == 200
    assert proxy.counts[("GET", "blob")] == 0      # the index and files survived the restart


def test_kill_9_during_fill_leaves_nothing_wrong(origin, proxy, make_edge):
    data = os.urandom(32 * MiB)
    digest = push_blob(origin.url, "edge/kill", data)
    edge = make_edge()
    proxy.throttle_bps = 8 * MiB                    # the fill takes ~4 s
    outcome: list = []

    def read() -> None:
        try:
            outcome.append(request(edge.url, "GET", f"/v2/edge/kill/blobs/{digest}", timeout=30))
        except (OSError, http.client.HTTPException) as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    partial = edge.data_dir / "cache" / "partial" / digest[7:]
    deadline = time.monotonic() + 10
    while not (partial.exists() and partial.stat().st_size > MiB) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert partial.exists()
    edge.proc.send_signal(signal.SIGKILL)
    edge.proc.wait()
    reader.join(10)
    assert isinstance(outcome[0], http.client.IncompleteRead)   # cut off, never completed wrong
    proxy.throttle_bps = None
    edge.start()
    assert not partial.exists()                     # removed at start: nothing partial survives
    verify = cli(edge, "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    status, _, body = request(edge.url, "GET", f"/v2/edge/kill/blobs/{digest}")
    assert status == 200 and body == data


def test_cache_commands(origin, proxy, make_edge):
    blobs = [os.urandom(200 * KiB) for _ in range(3)]
    digests = [push_blob(origin.url, "edge/cli", b) for b in blobs]
    edge = make_edge()
    for digest in digests:
        request(edge.url, "GET", f"/v2/edge/cli/blobs/{digest}")
    request(edge.url, "GET", f"/v2/edge/cli/blobs/{digests[0]}")
    time.sleep(1.5)                                 # counters reach the index every second
    stats = cli(edge, "stats")
    assert stats.returncode == 0
    assert "entries    3" in stats.stdout and f"bytes      600.0 KiB ({3 * 200 * KiB} bytes)," in stats.stdout, stats.stdout  # 3 x 200 KiB
    assert "hits       1" in stats.stdout and "misses     3" in stats.stdout
    victim = edge.data_dir / "cache" / "blobs" / "sha256" / digests[1][7:9] / digests[1][7:]
    victim.write_bytes(b"not the blob")
    verify = cli(edge, "verify")
    assert verify.returncode == 1 and f"CORRUPT {digests[1]}" in verify.stdout
    assert not victim.exists()
    prune = cli(edge, "prune", "--to", "0")
    assert prune.returncode == 0 and "evicted 2 blobs" in prune.stdout
    assert store_bytes(edge) == 0
    status, _, body = request(edge.url, "GET", f"/v2/edge/cli/blobs/{digests[1]}")
    assert status == 200 and body == blobs[1]
