"""How the store's costs grow with the number of blobs (issue 23): start-up and eviction.

    python -m bench.scale --sizes 1000,100000,1000000 --reps 3 --out docs/performance/scale/store
    (or: make bench-scale BENCH_SCALE_SIZES=1000,100000)

For each size, a store of that many small blobs is written directly in the store's own format
(files under blobs/sha256/<hex[:2]>/<hex>, one index row each, the byte total), after checking
once that the writer lays out exactly what BlobStore.put_bytes does. Then, on that store:

- reconcile: a whole pass making index and disk agree, in-process (what start-up used to wait for);
- start-up: an edge node (2 workers) spawned on it, until `/v2/` answers; and until its background
  pass is over (`converged`);
- prune: evicting 10% of the store (the least recently used), in-process: blobs per second, and
  the longest the index write lock was held by one batch (what a lookup's write could wait);
  then another 10% with file removal skipped, which is the index's own rate.

Each store is written once and measured --reps times (order of the sizes rotated); after each
repetition the blobs its prunes took are put back (rows and files), so every repetition measures
the same store. Prints a table (median, min-max) and, with --out, writes results.json and
results.csv (bench/scale_report.py) and one PNG curve per metric. The store's files are synced before
measuring, so eviction frees blocks the way an old store's would.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import scale_report
from ocicache.cache import BlobStore, blobstore
from ocicache.cache.index import Index
from ocicache.reference import Digest
from tests.nodeproc import free_port, stop_process

UNREACHABLE_ORIGIN = "http://127.0.0.1:9"   # the node never asks it: nothing is pulled


def blob_bytes(i: int) -> bytes:
    return b"ocicache scale blob %012d\n" % i * 4   # 104 bytes, one filesystem block each


def write_store(cache: Path, count: int) -> int:
    """`count` blobs in the store's format, oldest first; returns their bytes."""
    cache.mkdir(parents=True)
    (cache / "partial").mkdir()
    Index(cache / "index.sqlite").close()            # the schema, as the node creates it
    for i in range(256):
        (cache / "blobs" / "sha256" / f"{i:02x}").mkdir(parents=True)
    base = time.time() - count

    def chunk(start: int) -> list[tuple[str, int, float, float]]:
        rows = []
        for i in range(start, min(start + 10_000, count)):
            data = blob_bytes(i)
            hex_ = hashlib.sha256(data).hexdigest()
            with open(cache / "blobs" / "sha256" / hex_[:2] / hex_, "wb") as fh:
                fh.write(data)
            rows.append((f"sha256:{hex_}", len(data), base + i, base + i))
        return rows

    db = sqlite3.connect(cache / "index.sqlite", isolation_level=None)
    total = 0
    db.execute("BEGIN")
    with ThreadPoolExecutor(4) as pool:
        for rows in pool.map(chunk, range(0, count, 10_000)):
            db.executemany("INSERT INTO blobs(digest, size, added, last_access) VALUES (?, ?, ?, ?)", rows)
            total += sum(r[1] for r in rows)
    db.execute("UPDATE counters SET value = ? WHERE name='bytes'", (total,))
    db.execute("COMMIT")
    db.close()
    os.sync()
    return total


def check_format(work: Path, count: int = 200) -> None:
    """The direct writer lays out what the store's own API does (files, rows, byte total)."""
    direct, api = work / "direct", work / "api"
    write_store(direct, count)
    store = BlobStore(api, 1 << 40)
    for i in range(count):
        data = blob_bytes(i)
        store.put_bytes(Digest.from_hex(hashlib.sha256(data).hexdigest()), data)
    store.close()
    a, b = BlobStore(direct, 1 << 40), BlobStore(api, 1 << 40)
    try:
        files = [sorted(str(p.relative_to(s.dir)) for p in (s.dir / "blobs").rglob("*") if p.is_file())
                 for s in (a, b)]
        assert files[0] == files[1] and len(files[0]) == count, "files differ"
        assert sorted(a.index.all_digests()) == sorted(b.index.all_digests()), "index rows differ"
        assert a.total_bytes() == b.total_bytes(), "byte totals differ"
        assert a.verify() == [] and a.reconcile() == {"partial_removed": 0, "index_dropped": 0, "index_added": 0}
    finally:
        a.close()
        b.close()
    shutil.rmtree(direct)
    shutil.rmtree(api)


def start_up(data_dir: Path) -> tuple[float, float]:
    """Seconds from spawning a 2-worker edge node until `/v2/` answers, and until its
    background reconcile pass is over."""
    port = free_port()
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "ocicache", "serve", "--listen", f"127.0.0.1:{port}",
                             "--data-dir", str(data_dir), "--origin", UNREACHABLE_ORIGIN, "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=5) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError(f"the node on {data_dir} exited with {proc.returncode}") from None
                time.sleep(0.005)
        answered = time.monotonic() - started
        store = BlobStore(data_dir / "cache", 1 << 40)
        try:
            while store.reconciling():
                time.sleep(0.02)
        finally:
            store.close()
        return answered, time.monotonic() - started
    finally:
        stop_process(proc)


def prune_tenth(cache: Path, unlink: bool = True) -> dict[str, float]:
    store = BlobStore(cache, 1 << 50)
    held: list[float] = []
    cpu: list[float] = []
    batch = store.index.evict_batch

    def timed(*args):
        t, c = time.perf_counter(), time.thread_time()
        try:
            return batch(*args)
        finally:
            held.append(time.perf_counter() - t)
            cpu.append(time.thread_time() - c)

    store.index.evict_batch = timed
    saved = blobstore._unlink
    if not unlink:
        blobstore._unlink = lambda path: None       # the index's own rate: files stay behind
    try:
        target = store.total_bytes() - store.total_bytes() // 10
        t = time.perf_counter()
        evicted = store.prune(target)
        seconds = time.perf_counter() - t
    finally:
        blobstore._unlink = saved
        store.close()
    held.sort()
    return {"evicted": evicted, "seconds": seconds, "per_second": evicted / seconds, "batches": len(held),
            "median_batch_ms": held[len(held) // 2] * 1000, "max_batch_ms": held[-1] * 1000,
            "max_batch_cpu_ms": max(cpu) * 1000}


def remove_store(data_dir: Path) -> None:
    """rmtree, with the files removed 16 at a time (one by one, 1M blobs take half an hour here)."""
    shards = list((data_dir / "cache" / "blobs" / "sha256").iterdir())
    with ThreadPoolExecutor(16) as pool:
        for shard in shards:
            list(pool.map(os.unlink, [e.path for e in os.scandir(shard)], chunksize=64))
    shutil.rmtree(data_dir)


def top_up(cache: Path, count: int) -> None:
    """Put back what a repetition's prunes took (the oldest blobs: rows and files), so the next
    repetition measures the same store without writing it again."""
    db = sqlite3.connect(cache / "index.sqlite", isolation_level=None)
    try:
        missing = count - db.execute("SELECT count(*) FROM blobs").fetchone()[0]
        base = db.execute("SELECT min(added) FROM blobs").fetchone()[0] - missing if missing < count else 0.0
        rows = []
        for i in range(missing):
            data = blob_bytes(i)
            hex_ = hashlib.sha256(data).hexdigest()
            with open(cache / "blobs" / "sha256" / hex_[:2] / hex_, "wb") as fh:
                fh.write(data)
            rows.append((f"sha256:{hex_}", len(data), base + i, base + i))
        db.execute("BEGIN")
        db.executemany("INSERT INTO blobs(digest, size, added, last_access) VALUES (?, ?, ?, ?)", rows)
        db.execute("UPDATE counters SET value = (SELECT sum(size) FROM blobs) WHERE name='bytes'")
        db.execute("COMMIT")
    finally:
        db.close()
    os.sync()


STARTUP = "edge start-up (2 workers) until `/v2/` answers"
CONVERGED = "... until its background pass made index and disk agree"
FULL_PASS = "a whole reconcile pass in one go (what start-up used to wait for)"
PRUNE = "prune of 10% of the store (files removed)"
INDEX_ONLY = "the same with the files left in place (the index's own cost)"


def measure(data_dir: Path, count: int, doc: dict) -> None:
    """One repetition on the store of `count` blobs at data_dir, its figures added to `doc`."""
    cache, size = data_dir / "cache", str(count)
    store = BlobStore(cache, 1 << 50)
    t = time.perf_counter()
    store.reconcile()
    full_pass = time.perf_counter() - t
    store.close()
    answered, converged = start_up(data_dir)
    prune = prune_tenth(cache)
    index_only = prune_tenth(cache, unlink=False)
    for row, metric, value in ((STARTUP, "s", answered), (CONVERGED, "s", converged), (FULL_PASS, "s", full_pass),
                               (PRUNE, "s", prune["seconds"]), (PRUNE, "blobs/s", prune["per_second"]),
                               (PRUNE, "median batch ms", prune["median_batch_ms"]),
                               (PRUNE, "longest batch ms", prune["max_batch_ms"]),
                               (INDEX_ONLY, "blobs/s", index_only["per_second"]),
                               (INDEX_ONLY, "median batch ms", index_only["median_batch_ms"])):
        scale_report.add(doc, row, size, metric, value)
    top_up(cache, count)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1000,100000", help="store sizes in blobs, comma-separated")
    p.add_argument("--reps", type=int, default=3, help="repetitions of each size (each store is written once)")
    p.add_argument("--out", type=Path, default=None, help="folder for results.json, results.csv and the PNGs")
    p.add_argument("--notes", default="", help="what the run's record says about its conditions")
    p.add_argument("--work", type=Path, default=None, help="where to build the stores (default: a temp dir)")
    args = p.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    doc = {"machine": scale_report.machine(args.notes), "results": {}}
    work = Path(tempfile.mkdtemp(prefix="ocicache-scale-", dir=args.work))
    try:
        check_format(work)
        for count in sizes:
            t = time.perf_counter()
            write_store(work / f"node-{count}" / "cache", count)
            doc["machine"][f"store of {count} blobs written in s"] = round(time.perf_counter() - t, 1)
        for rep in range(args.reps):
            for count in sizes[rep % len(sizes):] + sizes[:rep % len(sizes)]:  # order rotated
                measure(work / f"node-{count}", count, doc)
                print(f"rep {rep + 1}: {count:,} blobs measured (load {os.getloadavg()[0]:.2f})", file=sys.stderr,
                      flush=True)
    finally:
        for leftover in work.glob("node-*"):
            remove_store(leftover)
        shutil.rmtree(work, ignore_errors=True)
    doc["machine"]["repetitions"] = args.reps
    scale_report.finish(doc, args.out)
    print(scale_report.by_size(doc, "blobs in the store"))
    if args.out:
        for path in scale_report.curves(doc, args.out, "store", "blobs in the store"):
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
