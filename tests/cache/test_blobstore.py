"""The local blob store: LRU eviction by bytes, admission, restart, reconcile, verify."""
from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import time

import pytest

from ocicache.reference import Digest
from ocicache.cache import BlobStore, reconcile


def put(store: BlobStore, data: bytes) -> Digest:
    digest = Digest.from_hex(hashlib.sha256(data).hexdigest())
    partial = store.partial_path(digest)
    partial.write_bytes(data)
    store.commit(digest, partial, len(data))
    return digest


def blob(i: int, size: int = 1000) -> bytes:
    return i.to_bytes(4, "big") * (size // 4)


def disk_bytes(store: BlobStore) -> int:
    return sum(p.stat().st_size for p in (store.dir / "blobs").rglob("*") if p.is_file())


def test_lru_keeps_hot_blobs_within_budget(tmp_path):
    store = BlobStore(tmp_path / "c", max_bytes=10_000, high_watermark=1.0, low_watermark=0.9)
    digests = []
    for i in range(30):
        digests.append(put(store, blob(i)))
        for hot in digests[:3]:       # three hot blobs read after every new one
            assert store.lookup(hot) is not None
        store.flush()
        assert disk_bytes(store) <= store.max_bytes
        assert store.index.total_bytes() == disk_bytes(store)
    for hot in digests[:3]:
        assert store.lookup(hot) is not None
    assert store.lookup(digests[3]) is None            # cold and old: evicted
    assert store.stats()["evictions"] >= 20
    assert store.index.entries() <= 10


def test_blob_being_read_is_not_evicted(tmp_path):
    store = BlobStore(tmp_path / "c", max_bytes=3000, high_watermark=1.0, low_watermark=0.5)
    first = put(store, blob(0))
    with store.reading(first):
        for i in range(1, 4):
            put(store, blob(i))
        assert store.blob_path(first).exists()      # oldest, but being read
    for i in range(9, 12):
        put(store, blob(i))
    assert not store.blob_path(first).exists()      # oldest and free: evicted


def test_admission_keeps_huge_blob_only_when_asked_twice(tmp_path):
    store = BlobStore(tmp_path / "c", max_bytes=10_000, admit_fraction=0.25)
    big = Digest.from_hex("ab" * 32)
    assert store.admit(Digest.from_hex("cd" * 32), 2000) is True
    assert store.admit(big, 4000) is False
    assert store.admit(big, 4000) is True
    assert store.admit(Digest.from_hex("ef" * 32), 20_000) is False


def test_index_survives_restart_and_reconcile_repairs(tmp_path):
    store = BlobStore(tmp_path / "c", max_bytes=1 << 20)
    kept = put(store, blob(1))
    lost = put(store, blob(2))
    store.close()
    store.blob_path(lost).unlink()                          # file gone behind the index's back
    stray = Digest.from_hex(hashlib.sha256(blob(3)).hexdigest())
    store.blob_path(stray).parent.mkdir(parents=True, exist_ok=True)
    store.blob_path(stray).write_bytes(blob(3))             # file the index never saw
    (store.dir / "partial" / ("ee" * 32)).write_bytes(b"left by a crash")
    again = BlobStore(tmp_path / "c", max_bytes=1 << 20)
    found = again.reconcile()
    assert found == {"partial_removed": 1, "index_dropped": 1, "index_added": 1}
    assert again.index.size_of(str(kept)) == 1000
    assert again.index.size_of(str(lost)) is None
    assert again.index.total_bytes() == 2000
    assert not (again.dir / "partial" / ("ee" * 32)).exists()


def test_reconcile_leaves_a_live_fill_alone(tmp_path):
    store = BlobStore(tmp_path / "c", max_bytes=1 << 20)
    live = store.dir / "partial" / ("aa" * 32)
    with open(live, "wb") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        assert store.reconcile()["partial_removed"] == 0
        assert live.exists()


def test_verify_removes_corrupt_blobs(tmp_path):
    store = BlobStore(tmp_path / "c", max_bytes=1 << 20)
    good = put(store, blob(1))
    bad = put(store, blob(2))
    with open(store.blob_path(bad), "r+b") as fh:
        fh.write(b"X")
    assert store.verify() == [str(bad)]
    assert store.lookup(bad) is None and store.lookup(good) is not None
    assert store.verify() == []


@pytest.mark.parametrize("target", [0, 2500])
def test_prune_to(tmp_path, target):
    store = BlobStore(tmp_path / "c", max_bytes=1 << 20)
    for i in range(5):
        put(store, blob(i))
    store.prune(target)
    assert store.index.total_bytes() <= target
    assert disk_bytes(store) == store.index.total_bytes()
    assert not os.listdir(store.dir / "partial")


def test_prune_in_batches_keeps_lru_order_pins_and_the_byte_total(tmp_path):
    store = BlobStore(tmp_path / "c", max_bytes=1 << 30)
    digests = [put(store, blob(i, 100)) for i in range(700)]   # more than two eviction batches
    later = time.time() + 10
    store.index.touch({str(d): later + i for i, d in enumerate(digests)})  # in that order, oldest first
    store.pins.pin("library/keep", [str(digests[0])])
    with store.reading(digests[1]):
        evicted = store.prune(300 * 100)
    assert evicted == 400
    assert store.lookup(digests[0]) is not None and store.lookup(digests[1]) is not None  # pinned, read
    assert [i for i, d in enumerate(digests) if store.lookup(d) is not None] == [0, 1, *range(402, 700)]
    assert store.index.total_bytes() == disk_bytes(store) == 300 * 100
    assert store.stats()["evictions"] == 400


async def test_one_worker_walks_the_start_up_pass_and_another_takes_over(tmp_path, monkeypatch):
    monkeypatch.setattr(reconcile, "RETRY_S", 0.01)
    store = BlobStore(tmp_path / "c", max_bytes=1 << 20)
    lost = put(store, blob(1))
    store.blob_path(lost).unlink()                     # the index disagrees with the disk
    store.begin_reconcile()
    with open(store.dir / "reconcile.lock", "a+b") as walker:
        fcntl.flock(walker.fileno(), fcntl.LOCK_EX)    # another worker walks the pass...
        task = asyncio.create_task(reconcile.in_background(store))
        await asyncio.sleep(0.05)
        assert not task.done() and store.reconciling()
        assert store.index.size_of(str(lost)) == 1000  # ...this one leaves it alone
    await asyncio.wait_for(task, 10)                   # ...and takes over once that one is gone
    assert not store.reconciling()
    assert store.index.size_of(str(lost)) is None and store.total_bytes() == 0
    store.close()
