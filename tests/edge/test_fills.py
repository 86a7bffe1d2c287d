"""Pull-through fills against a real origin node behind a fault proxy that counts requests."""
from __future__ import annotations

import hashlib
import http.client
import os
import random
import threading
import time

import pytest

from ..ocisync import request
from .origins import push_blob

MiB = 1024 * 1024


def timed_get(url: str, path: str, results: list, start: float, headers=None) -> None:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        first = resp.read(1)
        ttfb = time.monotonic() - start
        hasher = hashlib.sha256(first)
        received = len(first)
        while chunk := resp.read(MiB):
            hasher.update(chunk)
            received += len(chunk)
        if received != int(resp.getheader("Content-Length", -1)):
            raise http.client.IncompleteRead(b"", int(resp.getheader("Content-Length", 0)) - received)
        results.append((resp.status, ttfb, time.monotonic() - start, hasher.hexdigest()))
    except (http.client.HTTPException, OSError) as exc:
        results.append(("error", type(exc).__name__))
    finally:
        conn.close()


def cached_files(edge) -> list[str]:
    return [p.name for p in (edge.data_dir / "cache" / "blobs").rglob("*") if p.is_file()]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_16_clients_one_origin_fetch_streamed(origin, proxy, make_edge, workers):
    data = random.Random(16).randbytes(64 * MiB)
    digest = push_blob(origin.url, "edge/concurrent", data)
    edge = make_edge("--workers", workers)
    proxy.reset()
    proxy.throttle_bps = 64 * MiB  # the origin needs about a second to send the blob
    results: list = []
    start = time.monotonic()
    threads = [threading.Thread(target=timed_get, args=(edge.url, f"/v2/edge/concurrent/blobs/{digest}",
                                                        results, start)) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 16
    assert all(r[0] == 200 and r[3] == digest.split(":")[1] for r in results), results
    assert proxy.counts[("GET", "blob")] == 1, proxy.requests
    assert proxy.counts[("HEAD", "blob")] == 0, proxy.requests  # the GET gave the size, on every worker
    first_byte = min(r[1] for r in results)
    origin_done = max(r[2] for r in results)
    assert origin_done >= 0.9                      # the throttle held the origin back
    # streamed: clients had bytes long before the origin was done (not only once the fill was whole)
    assert first_byte < origin_done / 2, f"first byte after {first_byte:.2f}s; origin took {origin_done:.2f}s"
    # committed after the fill: served again without the origin
    assert request(edge.url, "GET", f"/v2/edge/concurrent/blobs/{digest}")[2] == data
    assert proxy.counts[("GET", "blob")] == 1


def test_wrong_bytes_fail_clean_and_commit_nothing(origin, proxy, make_edge):
    data = os.urandom(3 * MiB)
    digest = push_blob(origin.url, "edge/corrupt", data)
    edge = make_edge()
    proxy.corrupt = True
    proxy.corrupt_at = 2 * MiB
    results: list = []
    timed_get(edge.url, f"/v2/edge/corrupt/blobs/{digest}", results, time.monotonic())
    assert results[0][0] == "error", results       # closed early: never a whole wrong blob
    assert cached_files(edge) == []
    assert not any((edge.data_dir / "cache" / "partial").iterdir())
    proxy.corrupt = False
    status, headers, body = request(edge.url, "GET", f"/v2/edge/corrupt/blobs/{digest}")
    assert status == 200 and body == data
    assert cached_files(edge) == [digest.split(":")[1]]


def test_dropped_origin_connection_resumes_by_range(origin, proxy, make_edge):
    data = os.urandom(8 * MiB)
    digest = push_blob(origin.url, "edge/drop", data)
    edge = make_edge()
    proxy.reset()
    proxy.drop_after = 3 * MiB
    status, _, body = request(edge.url, "GET", f"/v2/edge/drop/blobs/{digest}")
    assert status == 200 and body == data
    gets = [r for r in proxy.requests if r[0] == "GET" and "/blobs/" in r[1]]
    assert len(gets) == 2, proxy.requests           # the first, cut; then one resume
    assert cached_files(edge) == [digest.split(":")[1]]


def test_range_on_uncached_blob_answered_before_fill_gets_there(origin, proxy, make_edge):
    block = os.urandom(MiB)
    data = b"".join(i.to_bytes(4, "big") + block[4:] for i in range(256))
    digest = push_blob(origin.url, "edge/lazy", data)
    edge = make_edge()
    proxy.reset()
    proxy.throttle_bps = 64 * MiB                   # the fill needs about 4 s for 256 MiB
    offset = 128 * MiB + 12345
    start = time.monotonic()
    status, headers, body = request(edge.url, "GET", f"/v2/edge/lazy/blobs/{digest}",
                                    headers={"Range": f"bytes={offset}-{offset + 1_000_000 - 1}"})
    elapsed = time.monotonic() - start
    assert status == 206
    assert headers["Content-Range"] == f"bytes {offset}-{offset + 999_999}/{len(data)}"
    assert body == data[offset:offset + 1_000_000]
    assert elapsed < 1.5, f"range took {elapsed:.2f}s; the fill reaches it after ~2 s"
    # the background fill went on and completed
    deadline = time.monotonic() + 30
    while not cached_files(edge) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cached_files(edge) == [digest.split(":")[1]]


def test_missing_blob_is_404_and_not_filled(origin, proxy, make_edge):
    edge = make_edge()
    status, _, body = request(edge.url, "GET", "/v2/edge/none/blobs/sha256:" + "0" * 64)
    assert status == 404 and b"BLOB_UNKNOWN" in body
    assert cached_files(edge) == []


@pytest.mark.parametrize("twin", ["C", "Python"])
def test_streamed_fill_byte_exact_from_memory_and_from_the_file(origin, proxy, make_edge, twin):
    """One client fed from the fill's in-memory window, one started later (its first bytes are
    out of the window: read from the partial file), on the C and on the Python hash+write."""
    data = random.Random(12).randbytes(12 * MiB)
    digest = push_blob(origin.url, "edge/twins", data)
    edge = make_edge(**({"OCICACHE_NO_EXTENSIONS": "1"} if twin == "Python" else {}))
    proxy.reset()
    proxy.throttle_bps = 24 * MiB                   # about half a second for the fill
    results: list = []
    path = f"/v2/edge/twins/blobs/{digest}"
    early = threading.Thread(target=timed_get, args=(edge.url, path, results, time.monotonic()))
    early.start()
    time.sleep(0.3)                                 # > 4 MiB arrived: offset 0 has left the window
    timed_get(edge.url, path, results, time.monotonic())
    early.join()
    assert [(r[0], r[3]) for r in results] == [(200, digest.split(":")[1])] * 2, results
    assert proxy.counts[("GET", "blob")] == 1 and proxy.counts[("HEAD", "blob")] == 0, proxy.requests
