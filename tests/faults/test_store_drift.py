"""The store while its index and its disk disagree, or while eviction removes files under
readers (issue 23): a node starts without waiting for its index to be reconciled, serves
only blobs whose files are there, and converges; reads racing with evictions (the node's own
and another process's) get the right bytes, or the blob fetched again, or a connection cut
short (the client retries), never a removed blob's bytes and never a hung answer."""
from __future__ import annotations

import hashlib
import http.client
import os
import random
import threading
import time

from ocicache.cache import BlobStore
from ocicache.reference import Digest

from ..ocisync import push_blob, request, sha
from .probes import cached_files, reconciled, settle

KiB = 1024


def disk_bytes(node) -> int:
    return sum(p.stat().st_size for p in (node.data_dir / "cache" / "blobs").rglob("*") if p.is_file())


def open_store(node) -> BlobStore:
    return BlobStore(node.data_dir / "cache", 1 << 40)


def test_a_node_on_a_drifted_index_serves_only_what_is_present_and_converges(origin, proxy, make_edge):
    blobs = [os.urandom(20 * KiB) for _ in range(2)]
    kept, lost = [push_blob(origin.url, "faults/drift", b) for b in blobs]
    edge = make_edge("--workers", "2", OCICACHE_CACHE_FILL_RETRIES="0")  # a failing origin fails at once
    for digest, data in zip((kept, lost), blobs):
        assert request(edge.url, "GET", f"/v2/faults/drift/blobs/{digest}")[2] == data
    edge.stop()
    store = open_store(edge)
    store.blob_path(Digest.parse(lost)).unlink()                # a row whose file is gone
    ghosts = [sha(b"ghost %d" % i) for i in range(1500)]        # rows with no file at all
    store.index.add_many([(d, 1000, 0.0) for d in ghosts])
    for i in range(1500):                                       # files no row accounts for
        data = b"stray %d" % i
        path = store.blob_path(Digest.parse(sha(data)))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    store.close()
    proxy.status_override = 503                                 # origin down: only the store can serve
    edge.start()
    assert request(edge.url, "GET", f"/v2/faults/drift/blobs/{kept}")[2] == blobs[0]
    try:                                                        # its row is no reason to serve it:
        status, _, body = request(edge.url, "GET", f"/v2/faults/drift/blobs/{lost}", timeout=10)
    except http.client.IncompleteRead:                          # the size was known, so a 200 began and
        status, body = "cut", b""                               # the connection closed before the end
    assert status in (503, "cut") and body != blobs[1], (status, body[:200])
    assert settle(lambda: reconciled(edge), True)
    store = open_store(edge)
    try:
        assert store.index.entries() == len(cached_files(edge)) == 1 + 1500
        assert store.total_bytes() == disk_bytes(edge)
        assert store.index.size_of(lost) is None and store.index.size_of(ghosts[0]) is None
    finally:
        store.close()
    proxy.reset()
    assert request(edge.url, "GET", f"/v2/faults/drift/blobs/{lost}")[2] == blobs[1]  # fetched again


def test_reads_racing_with_evictions_never_get_a_removed_blob(origin, proxy, make_edge):
    blobs = [os.urandom(random.Random(i).randrange(8, 48) * KiB) for i in range(40)]
    digests = [push_blob(origin.url, "faults/race", b) for b in blobs]
    edge = make_edge("--cache-max-bytes", str(400 * KiB), "--workers", "2",
                     OCICACHE_CACHE_HIGH_WATERMARK="0.9", OCICACHE_CACHE_LOW_WATERMARK="0.5")
    assert settle(lambda: reconciled(edge), True)
    stop = threading.Event()
    wrong: list = []
    answers: list[int] = []
    cut: list[int] = []

    def read(seed: int) -> None:
        r = random.Random(seed)
        while not stop.is_set():
            i = r.randrange(len(blobs))
            try:
                status, _, body = request(edge.url, "GET", f"/v2/faults/race/blobs/{digests[i]}", timeout=10)
            except TimeoutError as exc:                         # a hung answer is a failure
                wrong.append((i, repr(exc)))
                continue
            except (ConnectionError, http.client.HTTPException):
                # cut short: a worker following another worker's fill that an eviction ended
                # closes the connection rather than send what it cannot vouch for (the client
                # retries); no bytes of a removed blob are served either way
                cut.append(i)
                continue
            answers.append(status)
            if status != 200 or "sha256:" + hashlib.sha256(body).hexdigest() != digests[i]:
                wrong.append((i, status, len(body)))

    readers = [threading.Thread(target=read, args=(k,)) for k in range(4)]
    for t in readers:
        t.start()
    pruned = 0
    store = open_store(edge)                                    # a second evicting process: `cache prune`
    try:
        deadline = time.monotonic() + 60                       # a guard only: it ends on enough work
        while (len(answers) < 200 or pruned < 20) and time.monotonic() < deadline:
            pruned += store.prune(0)
            time.sleep(0.05)
    finally:
        stop.set()
        for t in readers:
            t.join()
    print(f"\n{len(answers)} answers, {len(cut)} cut short, {pruned} blobs pruned by the other process")
    try:
        assert wrong == []
        assert pruned >= 20 and len(answers) >= 200, (pruned, len(answers))
        assert store.total_bytes() == disk_bytes(edge)          # the running figure stayed right
        assert store.index.entries() == len(cached_files(edge))
    finally:
        store.close()
