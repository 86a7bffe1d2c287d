"""Content-addressed blob files on local disk, bounded by bytes, evicted least-recently-used.

    <dir>/blobs/<alg>/<hex[:2]>/<hex>    committed: hashed and verified, never rewritten (sha256, sha512)
    <dir>/partial/<hex>                  a fill in progress (also the fill's flock)
    <dir>/partial/<hex>.size             the blob's size, published by the filler
    <dir>/index.sqlite                   sizes, LRU order, counters (`store.index`)

A file appears under blobs/ only by rename after its digest matched, so a crash at any
instant leaves nothing servable that is wrong, and a lookup checks the file itself. At
start the node removes partial files no live process holds (`clear_partial`), then answers
at once while a background pass makes the index agree with the disk (cache/reconcile.py).
Eviction forgets a batch of blobs in the index, then unlinks their files; a reader that
already holds a file open keeps reading it (POSIX), and blobs read by this process right
now are skipped.
"""
from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from .. import metrics
from ..hotpaths.digest import hex_of_file
from ..reference import Digest
from .reconcile import begin as begin_pass, pending as pass_pending, run as run_pass
from .index import Index
from .pins import Pins

log = logging.getLogger("ocicache.store")
ROOM_MARGIN = 1024 * 1024  # kept free for the index, size files and manifests
EVICT_BATCH = 256
"""Blobs an eviction forgets per index transaction: the write lock is held ~1 ms at a time."""
UNLINK_THREADS = 16
"""Files of a batch removed at once: freeing a file's blocks waits on the filesystem's journal
(~2 ms each on ext4 mounted with `discard`), and those waits overlap."""


class BlobStore:
    def __init__(self, directory: Path, max_bytes: int, *, high_watermark: float = 0.95,
                 low_watermark: float = 0.85, admit_fraction: float = 0.25) -> None:
        self.dir = Path(directory)
        self.max_bytes = max_bytes
        self.high = int(max_bytes * high_watermark)
        self.low = int(max_bytes * low_watermark)
        self.admit_bytes = int(max_bytes * admit_fraction)
        (self.dir / "blobs").mkdir(parents=True, exist_ok=True)
        (self.dir / "partial").mkdir(parents=True, exist_ok=True)
        self.index = Index(self.dir / "index.sqlite")
        self.pins = Pins(self.index)
        self._accesses: dict[str, float] = {}
        self._counters: Counter[str] = Counter()
        self._readers: Counter[str] = Counter()
        self._pruning = threading.Lock()

    # ---- paths ----
    def blob_path(self, digest: Digest) -> Path:
        return self.dir / "blobs" / digest.algorithm / digest.hex[:2] / digest.hex

    def _file_of(self, digest_text: str) -> str:
        """blob_path of an indexed digest, without parsing it (eviction: thousands a second)."""
        algorithm, _, hex_ = digest_text.partition(":")
        return os.path.join(self.dir, "blobs", algorithm, hex_[:2], hex_)

    def partial_path(self, digest: Digest) -> Path:
        return self.dir / "partial" / digest.hex

    def size_path(self, digest: Digest) -> Path:
        return self.dir / "partial" / f"{digest.hex}.size"

    # ---- reads ----
    def lookup(self, digest: Digest) -> Path | None:
        """The committed file of `digest`, recording the access; None on a miss."""
        path = self.blob_path(digest)
        if not path.exists():
            return None
        self._accesses[str(digest)] = time.time()
        return path

    def reading(self, digest: Digest) -> "_Reading":
        """`with store.reading(digest):` keeps eviction off the blob while it is served."""
        return _Reading(self._readers, str(digest))

    def count(self, name: str, amount: int = 1) -> None:
        self._counters[name] += amount

    def has_room(self, size: int) -> bool:
        """Whether the store's disk has `size` bytes free, with a margin for the index."""
        st = os.statvfs(self.dir / "partial")
        return st.f_bavail * st.f_frsize >= size + ROOM_MARGIN

    # ---- writes ----
    def admit(self, digest: Digest, size: int) -> bool:
        """Whether a filled blob of `size` bytes is kept. A blob larger than `admit_fraction`
        of the budget is kept only when asked for a second time, so one huge one-off layer
        does not flush the hot ones; a blob larger than the whole budget is never kept."""
        if size > self.max_bytes:
            return False
        if size <= self.admit_bytes:
            return True
        return self.index.seen_before(str(digest))

    def commit(self, digest: Digest, partial: Path, size: int) -> None:
        """Move a verified partial file into place and index it; evict if over budget."""
        target = self.blob_path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(partial, target)
        self.index.add(str(digest), size)
        self.evict_if_needed()

    def keep(self, digest: Digest, path: Path, size: int) -> bool:
        """Take a verified local copy (e.g. of a blob this node pushed), if admission agrees;
        True when it is in the store now and was not before."""
        if self.blob_path(digest).exists() or not self.admit(digest, size):
            path.unlink(missing_ok=True)
            return False
        self.commit(digest, path, size)
        return True

    def put_bytes(self, digest: Digest, data: bytes) -> bool:
        """Keep small verified content (a manifest) under its digest; True if it was not stored."""
        target = self.blob_path(digest)
        if target.exists():
            return False
        tmp = self.dir / "partial" / f".{digest.hex}.{uuid.uuid4().hex}.tmp"
        tmp.write_bytes(data)
        self.commit(digest, tmp, len(data))
        return True

    def remove(self, digest: Digest) -> int:
        """Drop a blob from the store; returns the bytes freed."""
        self.blob_path(digest).unlink(missing_ok=True)
        return self.index.remove(str(digest))

    def evict_if_needed(self) -> int:
        """Prune to the low watermark once above the high one (one prune at a time per process:
        a commit arriving meanwhile leaves it to the running one)."""
        if self.index.total_bytes() <= self.high or not self._pruning.acquire(blocking=False):
            return 0
        try:
            return self.prune(self.low)
        finally:
            self._pruning.release()

    def prune(self, target_bytes: int) -> int:
        """Evict least-recently-used blobs until at most `target_bytes` remain; returns count.
        Batch by batch: the index forgets a batch in one transaction (`Index.evict_batch`), then
        the files go, outside the index lock. A kill in between leaves files no row accounts
        for, which the next start's reconcile pass adds back; never a row served without its file."""
        self.flush()
        evicted, left = 0, self.index.total_bytes()
        removing: list[Future] = []  # the previous batch's files go while the index forgets the next
        with ThreadPoolExecutor(UNLINK_THREADS, thread_name_prefix="ocicache-evict") as unlinker:
            while left > target_bytes:
                victims, left = self.index.evict_batch(target_bytes, EVICT_BATCH, self._readers)
                for done in removing:
                    done.result()
                if not victims:
                    break  # the rest is pinned or being read right now
                paths = [self._file_of(digest_text) for digest_text, _size in victims]
                removing = [unlinker.submit(_unlink_all, paths[i:i + 16]) for i in range(0, len(paths), 16)]
                evicted += len(victims)
            for done in removing:
                done.result()  # an I/O error removing a file is the caller's to see
        if evicted:
            self.count("evictions", evicted)
            metrics.EVICTIONS.inc(evicted)
            log.info("cache evicted %d blobs; %d bytes now in %s (budget %d)", evicted, left, self.dir,
                     self.max_bytes)
        return evicted

    # ---- upkeep ----
    def flush(self) -> None:
        """Write batched access times and counters to the index (called every second)."""
        if self._accesses:
            accesses, self._accesses = self._accesses, {}
            self.index.touch(accesses)
        if self._counters:
            counters, self._counters = dict(self._counters), Counter()
            self.index.add_counters(counters)

    def clear_partial(self) -> int:
        """At start, before the workers fork: drop the partial files no live process fills
        (and stray .size and .tmp files); returns how many fills were dropped."""
        removed = 0
        for entry in (self.dir / "partial").iterdir():
            if entry.name.endswith(".tmp"):
                entry.unlink(missing_ok=True)
                continue
            if entry.name.endswith(".size"):
                if not Path(str(entry)[:-len(".size")]).exists():
                    entry.unlink(missing_ok=True)  # its fill was committed, then the node died
                continue
            with open(entry, "rb") as fh:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live fill
                entry.unlink(missing_ok=True)
                Path(f"{entry}.size").unlink(missing_ok=True)
                removed += 1
        return removed

    def reconcile(self) -> dict[str, int]:
        """Here and now: clear partial files and make index and disk agree (the node does the
        second part in the background: `reconcile.in_background`, started by `begin_reconcile`)."""
        removed = self.clear_partial()
        begin_pass(self)
        return {"partial_removed": removed, **run_pass(self)}

    def begin_reconcile(self) -> None:
        begin_pass(self)

    def reconciling(self) -> bool:
        """Whether a pass making the index agree with the disk is still under way."""
        return pass_pending(self)

    def verify(self, on_blob=None) -> list[str]:
        """Rehash every committed blob; remove and return the digests whose bytes are wrong."""
        corrupt = []
        for digest_text, _size in self.index.all_digests():
            digest = Digest.parse(digest_text)
            path = self.blob_path(digest)
            try:
                ok = hex_of_file(path, digest.algorithm) == digest.hex
            except FileNotFoundError:
                ok = False
            if not ok:
                corrupt.append(digest_text)
                self.remove(digest)
                log.error("cache verify: %s did not hash to its digest; removed from %s", digest_text, self.dir)
            if on_blob is not None:
                on_blob(digest_text, ok)
        return corrupt

    def total_bytes(self) -> int:
        return self.index.total_bytes()

    def stats(self) -> dict[str, int]:
        self.flush()
        return {"entries": self.index.entries(), "bytes": self.index.total_bytes(),
                "max_bytes": self.max_bytes, "hits": self.index.counter("hits"),
                "misses": self.index.counter("misses"), "evictions": self.index.counter("evictions")}

    def close(self) -> None:
        self.flush()
        self.index.close()


def _unlink_all(paths: list[str]) -> None:
    for path in paths:
        _unlink(path)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass  # another process evicted it too


class _Reading:
    def __init__(self, readers: Counter[str], key: str) -> None:
        self.readers, self.key = readers, key

    def __enter__(self) -> None:
        self.readers[self.key] += 1

    def __exit__(self, *exc) -> None:
        self.readers[self.key] -= 1
        if not self.readers[self.key]:
            del self.readers[self.key]
