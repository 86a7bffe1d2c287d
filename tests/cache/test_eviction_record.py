"""The index's record of eviction batches: one row per batch, written in the batch's own
transaction, the last EVICTIONS_KEPT kept, seen by another connection (another worker) and
after a restart; and the ranking of repositories by the bytes of their stored blobs."""
from __future__ import annotations

from ocicache.cache.index import EVICTIONS_KEPT, Index


def digest(i: int) -> str:
    return f"sha256:{i:064x}"


def test_each_batch_is_recorded_with_its_blobs_bytes_and_oldest_access(tmp_path):
    index = Index(tmp_path / "index.sqlite")
    index.add_many([(digest(i), 100 + i, 1000.0 + i) for i in range(10)])
    victims, left = index.evict_batch(target_bytes=0, limit=4, busy={digest(1)})
    assert [d for d, _ in victims] == [digest(0), digest(2), digest(3), digest(4)]
    victims, left = index.evict_batch(target_bytes=0, limit=3, busy=())
    assert [d for d, _ in victims] == [digest(1), digest(5), digest(6)]
    index.close()
    again = Index(tmp_path / "index.sqlite")   # a restart, or another worker's connection
    last, first = again.last_evictions(10)
    assert (first["blobs"], first["bytes"], first["oldest_access"]) == (4, 100 + 102 + 103 + 104, 1000.0)
    assert (last["blobs"], last["bytes"], last["oldest_access"]) == (3, 101 + 105 + 106, 1001.0)
    assert last["at"] >= first["at"] > 1001.0
    assert again.last_evictions(1) == [last]


def test_a_batch_that_forgets_nothing_records_nothing(tmp_path):
    index = Index(tmp_path / "index.sqlite")
    index.add_many([(digest(0), 100, 1.0)])
    assert index.evict_batch(target_bytes=1000, limit=10, busy=()) == ([], 100)
    assert index.evict_batch(target_bytes=0, limit=10, busy={digest(0)}) == ([], 100)
    assert index.last_evictions(10) == []


def test_only_the_last_batches_are_kept(tmp_path):
    index = Index(tmp_path / "index.sqlite")
    batches = EVICTIONS_KEPT + 7
    index.add_many([(digest(i), i + 1, float(i)) for i in range(batches)])
    for _ in range(batches):
        assert len(index.evict_batch(target_bytes=0, limit=1, busy=())[0]) == 1
    kept = index.last_evictions(1000)
    assert len(kept) == EVICTIONS_KEPT
    assert index.db.execute("SELECT COUNT(*) FROM evictions").fetchone()[0] == EVICTIONS_KEPT
    assert [e["bytes"] for e in kept] == list(range(batches, batches - EVICTIONS_KEPT, -1))  # newest first


def test_repositories_ranked_by_the_bytes_of_their_stored_blobs(tmp_path):
    index = Index(tmp_path / "index.sqlite")
    index.add_many([(digest(i), 1000 * (i + 1), float(i)) for i in range(4)])
    for repo, blobs in (("up/small", [0]), ("up/big", [2, 3]), ("up/mid", [0, 1, 2]), ("other/x", [3])):
        for i in blobs:
            index.link(repo, digest(i), 1000 * (i + 1))
    index.link("up/gone", digest(99), 10**9)  # a link whose blob is not stored counts nothing
    assert index.top_linked(10, "up/") == [("up/big", 2, 7000), ("up/mid", 3, 6000), ("up/small", 1, 1000)]
    assert index.top_linked(1) == [("up/big", 2, 7000)]
    assert index.top_linked(10)[-1] == ("up/small", 1, 1000) and len(index.top_linked(10)) == 4
