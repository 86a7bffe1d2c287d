"""1,000 concurrent connections to one node on loopback, pulling a mix of cached and uncached
blobs and manifests (by digest and by tag): every one completes with the right bytes, and the
node's open descriptors and RSS come back to where they were."""
from __future__ import annotations

import asyncio
import hashlib
import json
import random

import aiohttp

from ..ocisync import push_blob, push_image, request
from .probes import held, leaks, rss_bytes, settle

KiB = 1024
MiB = 1024 * KiB
CONNECTIONS = 1000
ACCEPT = "application/vnd.oci.image.manifest.v1+json"


async def pull_all(url: str, paths: list[str]) -> list[tuple[int, str] | str]:
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        start = asyncio.Event()

        async def one(path: str):
            await start.wait()
            try:
                async with session.get(url + path, headers={"Accept": ACCEPT}) as resp:
                    return resp.status, hashlib.sha256(await resp.read()).hexdigest()
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                return f"{type(exc).__name__}: {exc}"

        tasks = [asyncio.ensure_future(one(p)) for p in paths]
        await asyncio.sleep(0)
        start.set()
        return await asyncio.wait_for(asyncio.gather(*tasks), 180)


def test_1000_connections_mixed_then_back_to_baseline(origin, proxy, make_edge):
    rng = random.Random(1000)
    blobs = [rng.randbytes(rng.randrange(16, 512) * KiB) for _ in range(60)]
    digests = [push_blob(origin.url, "faults/load", b) for b in blobs]
    tags = {f"v{i}": push_image(origin.url, "faults/load", f"v{i}", rng.randbytes(64 * KiB)) for i in range(10)}
    manifests = {t: request(origin.url, "GET", f"/v2/faults/load/manifests/{d}", headers={"Accept": ACCEPT})[2]
                 for t, d in tags.items()}
    edge = make_edge()
    pid = edge.proc.pid
    for i in range(0, 60, 2):                        # half the blobs cached, half not yet
        assert request(edge.url, "GET", f"/v2/faults/load/blobs/{digests[i]}")[2] == blobs[i]
    for tag in list(tags)[:5]:
        request(edge.url, "GET", f"/v2/faults/load/manifests/{tags[tag]}", headers={"Accept": ACCEPT})
    baseline_files = settle(lambda: held(pid, edge.port), None, timeout=0.5)[0]
    baseline_rss = rss_bytes(pid)

    expect: dict[str, str] = {}
    for i, d in enumerate(digests):
        expect[f"/v2/faults/load/blobs/{d}"] = d[7:]
    for tag, d in tags.items():
        expect[f"/v2/faults/load/manifests/{d}"] = d[7:]
        expect[f"/v2/faults/load/manifests/{tag}"] = hashlib.sha256(manifests[tag]).hexdigest()
    paths = list(expect)
    rss_after = []
    for round_ in range(2):
        batch = [rng.choice(paths) for _ in range(CONNECTIONS)]
        results = asyncio.run(pull_all(edge.url, batch))
        failures = [(p, r) for p, r in zip(batch, results) if r != (200, expect[p])]
        assert failures == [], failures[:5]
        assert settle(lambda: leaks(pid, edge.port, baseline_files), ([], 0), timeout=20) == ([], 0)
        rss_after.append(rss_bytes(pid))
    # back to baseline: what a round allocates is given back (bounded allowance for caches and
    # the allocator), and a second round does not add to it
    print(f"RSS baseline {baseline_rss // MiB} MiB, after each round {[r // MiB for r in rss_after]} MiB")
    assert rss_after[0] - baseline_rss < 64 * MiB, (baseline_rss, rss_after)
    assert rss_after[1] - rss_after[0] < 16 * MiB, (baseline_rss, rss_after)
    assert json.loads(request(edge.url, "GET", "/v2/faults/load/tags/list")[2])["tags"] == sorted(tags)
