"""The cache page lists the fills of every worker of an edge node: a fill held mid-blob by
the fault proxy in front of the origin, seen on a page answered by the worker that runs it
and by the other one (each worker publishes its fills once a second); gone once it ends."""
from __future__ import annotations

import re
import threading
import time
import urllib.request

import pytest

from ..faultproxy import FaultProxy
from ..nodeproc import NodeProcess
from .content import OCI_LAYER, Pusher, seeded

SIZE, HELD_AT = 600_000, 200_000


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    base = tmp_path_factory.mktemp("ui-fills")
    origin = NodeProcess(base / "origin")
    origin.start()
    proxy = FaultProxy(origin.url).start()
    edge = NodeProcess(base / "edge", "--origin", proxy.url, "--workers", "2", "--cache-max-bytes", "50000000")
    try:
        edge.start()
    except RuntimeError:
        proxy.stop()
        origin.stop()
        raise
    yield origin, proxy, edge
    edge.stop()
    proxy.stop()
    origin.stop()


def page(edge: NodeProcess) -> tuple[int, str]:
    """The cache page on a new connection (so either worker may answer): its pid and HTML."""
    with urllib.request.urlopen(edge.url + "/ui/cache", timeout=30) as resp:
        body = resp.read().decode()
    return int(re.search(r'pid <span class="pid">(\d+)</span>', body).group(1)), body


def fill_rows(body: str) -> list[tuple[str, int, list[int]]]:
    """(digest, bytes so far, worker pids) of each row of the fills table."""
    return [(d, int(r), [int(p) for p in pids.split(", ")]) for d, r, pids in re.findall(
        r'<code class="digest">([^<]+)</code></td><td><progress max="\d+" value="(\d+)">.*?'
        r'<td class="pids">([^<]+)</td>', body)]


def test_a_fill_run_by_one_worker_shows_on_both_workers_pages(edge):
    origin, proxy, node = edge
    blob = Pusher(origin.url).blob("demo/slow", seeded("slow", SIZE), OCI_LAYER)
    proxy.stall_after = HELD_AT
    got: list[int] = []
    reader = threading.Thread(target=lambda: got.append(len(Pusher(node.url).get(
        f"/v2/demo/slow/blobs/{blob['digest']}"))))
    reader.start()
    try:
        seen: dict[int, list] = {}  # answering pid -> the fill rows it showed once the fill reached HELD_AT
        for _ in range(200):
            pid, body = page(node)
            rows = fill_rows(body)
            if rows and rows[0][1] >= HELD_AT:
                seen[pid] = rows
            if len(seen) == 2:
                break
            time.sleep(0.1)
        assert len(seen) == 2, f"the fill showed on the pages of workers {sorted(seen)} only"
        for rows in seen.values():
            assert len(rows) == 1 and rows[0][0] == blob["digest"] and rows[0][1] == HELD_AT
            assert rows[0][2][0] in seen  # run by one of the two workers
    finally:
        proxy.stall_after = None
        reader.join(60)
    assert got == [SIZE]
    for _ in range(100):  # each worker's list goes within a second of its last fill's end
        if all("None now." in page(node)[1] for _ in range(6)):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the ended fill stayed on the cache page")
