"""A purge that reaches every node (issue 14): an admin purge taken on node A of an S3 fleet is
applied by node B (2 workers) within `[cache] purge_poll` (measured and printed): B drops the
content from its store, and a leaked image already deleted at the origin stops being served by
every worker of B, long before link_ttl would have re-confirmed it. The journal itself, on a
directory origin in one process: own entries, restarts, old and damaged entries, the lease."""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from ocicache.cache import BlobStore, CachingOrigin, TagCache
from ocicache.cache.generations import Generations
from ocicache.cache.journal import Purge, PurgeJournal
from ocicache.origin import layout, open_origin
from ocicache.reference import Digest

from ..coherence.http1 import digest_of, push_image, request
from ..nodeproc import NodeProcess
from ..s3.conftest import drop_bucket

POLL = 1.0
SLACK = 3.0  # one LIST, the entry's GET, a worker busy with the test's own requests
SECRET = "purge-" + "x" * 32
ACCEPT = {"Accept": "application/vnd.oci.image.manifest.v1+json"}


def stored(node: NodeProcess, digest: str) -> bool:
    hexd = digest.split(":", 1)[1]
    return (node.data_dir / "cache" / "blobs" / "sha256" / hexd[:2] / hexd).exists()


def purge(node: NodeProcess, body: dict) -> dict:
    status, _, out = request(node.hostport, "POST", "/admin/purge", json.dumps(body).encode(),
                             {"Authorization": f"Bearer {SECRET}"})
    assert status == 200, out
    return json.loads(out)


def seconds_until(done, since: float, what: str) -> float:
    while not done():
        took = time.monotonic() - since
        assert took < POLL + SLACK, f"{what} still not so {took:.1f} s after the purge on node A"
        time.sleep(0.1)
    return time.monotonic() - since


def heads(node: NodeProcess, paths: list[str], rounds: int = 6) -> set[int]:
    """Statuses of HEADs over new connections (so both of B's workers answer some)."""
    return {request(node.hostport, "HEAD", p, headers=ACCEPT)[0] for _ in range(rounds) for p in paths}


def test_a_purge_on_node_a_reaches_node_b(tmp_path, s3server):
    bucket = s3server.new_bucket()
    (tmp_path / "token").write_text(SECRET + "\n")
    env = {**s3server.env, "OCICACHE_CACHE_TAG_TTL": "1", "OCICACHE_CACHE_LINK_TTL": "600",
           "OCICACHE_CACHE_PURGE_POLL": str(POLL), "OCICACHE_ADMIN_TOKEN_FILE": str(tmp_path / "token")}
    a = NodeProcess(tmp_path / "a", "--origin", f"s3://{bucket}/fleet", env=env)
    b = NodeProcess(tmp_path / "b", "--origin", f"s3://{bucket}/fleet", "--workers", "2", env=env)
    started = []
    try:
        for node in (a, b):
            node.start()
            started.append(node)
        # a tag purged on A: B drops the image from its store, then fetches it again
        manifest, layer = push_image(a.hostport, "purge/app", "v1", "kept at the origin")
        assert request(b.hostport, "GET", "/v2/purge/app/manifests/v1", headers=ACCEPT)[0] == 200
        assert request(b.hostport, "GET", f"/v2/purge/app/blobs/{layer}")[0] == 200
        assert stored(b, manifest) and stored(b, layer)
        answer = purge(a, {"repository": "purge/app", "tag": "v1"})
        since = time.monotonic()
        assert f"every node on s3://{bucket}/fleet/_ocicache/purges/" in answer["reaches"], answer
        took = seconds_until(lambda: not (stored(b, manifest) or stored(b, layer)), since, "node B stores the image")
        print(f"tag purged on node A: gone from node B's store after {took:.1f} s (purge_poll {POLL:g} s)")
        assert request(b.hostport, "GET", f"/v2/purge/app/blobs/{layer}")[2] == b"layer kept at the origin"

        # a leaked image deleted at the origin through A: B keeps serving it (link_ttl 600 s)
        # until the purge of its digests reaches it, then every worker of B answers 404
        leak, leaked = push_image(a.hostport, "purge/leak", "v1", "leaked")
        paths = [f"/v2/purge/leak/manifests/{leak}", f"/v2/purge/leak/blobs/{leaked}"]
        assert [request(b.hostport, "GET", p, headers=ACCEPT)[0] for p in paths] == [200, 200]
        assert stored(b, leak) and stored(b, leaked)
        for path in paths:
            assert request(a.hostport, "DELETE", path)[0] == 202
        assert heads(b, paths) == {200}, "node B stopped serving before the purge: the test shows nothing"
        for digest in (leak, leaked):
            assert "every node" in purge(a, {"repository": "purge/leak", "digest": digest})["reaches"]
        since = time.monotonic()
        took = seconds_until(lambda: heads(b, paths, rounds=3) == {404}, since, "node B answers 404")
        print(f"deleted image purged on node A: 404 on both workers of node B after {took:.1f} s")
        assert heads(b, paths) == {404}
        assert not (stored(b, leak) or stored(b, leaked))
    finally:
        for node in started:
            node.stop()
        drop_bucket(s3server.client(), bucket)


class Node:
    """One node's cache of a directory origin, in this process (store, tag cache, journal)."""

    def __init__(self, base: Path, origin_dir: Path) -> None:
        self.generations = Generations()
        self.store = BlobStore(base / "cache", 10_000_000)
        tags = TagCache(30, 300, 5, generations=self.generations)
        self.cache = CachingOrigin(open_origin(origin_dir.as_uri()), self.store, tags)
        self.lease = base / "purge-journal.lock"

    def journal(self) -> PurgeJournal:
        """A journal as a (re)started worker of this node opens it."""
        journal = PurgeJournal.over(self.cache, self.store.index, self.generations, POLL, self.lease)
        assert journal is not None
        return journal


async def _cancelled(coro) -> None:
    """Run a journal's poll loop a moment, then cancel it (its lease is closed on the way out)."""
    task = asyncio.create_task(coro)
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def test_the_journal_on_a_directory_origin(tmp_path, caplog):
    origin = tmp_path / "origin"
    a, b = Node(tmp_path / "a", origin), Node(tmp_path / "b", origin)
    data = b"content both nodes cached"
    digest = Digest.parse(digest_of(data))
    for node in (a, b):
        node.store.put_bytes(digest, data)
    folder = origin / layout.PURGES

    async def scenario() -> None:
        ja, jb = a.journal(), b.journal()
        assert ja.reach.startswith(f"every node on {folder} within 1 s")
        await ja.record("team/app", None, str(digest), False, [str(digest)])
        assert await ja.poll() == 0                     # its own entry: applied when taken
        before = b.generations.get("team/app")
        assert await jb.poll() == 1
        assert b.store.lookup(digest) is None and b.generations.get("team/app") == before + 1
        assert await jb.poll() == 0 and await b.journal().poll() == 0   # once, across restarts
        old = layout.purge_entry(time.time() - 2 * 3600, "0ld")
        (folder / old).write_bytes(Purge("team/app", None, str(digest), False, (str(digest),),
                                         time.time() - 2 * 3600).to_bytes())
        damaged = layout.purge_entry(time.time(), "bad")
        (folder / damaged).write_bytes(b"{not json")
        b.store.put_bytes(digest, data)                  # cached again since
        assert await jb.poll() == 0
        assert not (folder / old).exists()               # past retention: removed, not applied
        assert b.store.lookup(digest) is not None
        assert f"entry {damaged} skipped: not a purge entry" in caplog.text
        assert a.store.lookup(digest) is not None        # A took no purge itself in this test
        later = PurgeJournal(ja.store, a.cache, a.generations, a.store.index, POLL, a.lease,
                             clock=lambda: time.time() + 2 * 3600)
        assert await later.poll() == 0 and not list(folder.iterdir())  # applied or not, old: removed
        poller = asyncio.create_task(jb.run())           # one worker of the node polls...
        await asyncio.sleep(0.05)
        standby = b.journal()
        assert not standby._leased()                     # ...the others stand by
        poller.cancel()
        await asyncio.gather(poller, return_exceptions=True)
        assert standby._leased()                         # and take over when it ends
        await asyncio.gather(_cancelled(standby.run()), return_exceptions=True)

    asyncio.run(scenario())
    for node in (a, b):
        node.store.close()
