"""The cache page in a browser, on an edge node in front of another node after pulls through
it: the store against its budget, the hits, the origin's health; on an edge with a small
budget after pushes to two repositories, its eviction batches and its top repositories by
bytes, against what its LRU must have done; and on the origin node, which keeps no cache,
no link to it and a 404."""
from __future__ import annotations

import contextlib
import re
import time
import urllib.error
import urllib.request

import pytest

from ..nodeproc import NodeProcess
from .content import OCI_LAYER, Pusher, push_image, seeded

BUDGET = 50_000_000


@contextlib.contextmanager
def origin_and_edge(base, budget: int):
    """An origin node and an edge in front of it with a store of `budget` bytes; both stopped after."""
    origin = NodeProcess(base / "origin")
    origin.start()
    edge = NodeProcess(base / "edge", "--origin", origin.url, "--cache-max-bytes", str(budget))
    try:
        edge.start()
        yield origin, edge
    finally:
        edge.stop()
        origin.stop()


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    with origin_and_edge(tmp_path_factory.mktemp("ui-cache"), BUDGET) as pair:
        yield pair


@pytest.fixture(scope="module")
def pulled(nodes):
    """demo/app:v1 pushed to the origin; its layer read twice through the edge (a miss, then a hit)."""
    origin, edge = nodes
    image = push_image(Pusher(origin.url), "demo/app", "v1", "cache", (300_000,))
    manifest = Pusher(edge.url).get(f"/v2/demo/app/manifests/v1")
    layer = re.search(rb'"layers":\[\{"digest":"(sha256:[0-9a-f]+)"', manifest).group(1).decode()
    for _ in range(2):
        assert len(Pusher(edge.url).get(f"/v2/demo/app/blobs/{layer}")) == 300_000
    return image


def test_the_cache_page_shows_the_store_the_hits_and_the_origin(nodes, pulled, browser):
    _, edge = nodes
    browser.get(edge.url + "/ui/")
    assert [a.text for a in browser.all("ul.repos a")] == ["demo/app"]  # the origin's catalog
    browser.follow(browser.one('header nav a[href="/ui/cache"]'))
    store = browser.text("table.store")
    hits = int(re.search(r"\((\d+) hits, (\d+) misses\)", store).group(1))
    assert hits >= 1, store
    stored = browser.all("table.store span.size")
    assert int(stored[0].get_attribute("title").split()[0]) >= 300_000  # the layer is in the store
    assert stored[1].get_attribute("title") == f"{BUDGET} bytes"
    assert browser.one("table.store meter").get_attribute("max") == str(BUDGET)
    assert browser.text("p.health").startswith("healthy")
    assert "None now." in browser.text("main")  # nothing is being fetched now
    browser.shot("cache")


def test_a_node_serving_its_own_files_has_no_cache_page(nodes, pulled, browser):
    origin, _ = nodes
    browser.get(origin.url + "/ui/")
    assert browser.all('header nav a[href="/ui/cache"]') == []
    try:
        urllib.request.urlopen(origin.url + "/ui/cache", timeout=10)
        raise AssertionError("the origin node answered /ui/cache")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404 and "keeps no cache" in exc.read().decode()


SMALL_BUDGET = 1_000_000
HIGH, LOW = 0.95, 0.85  # the default watermarks ([cache] high_watermark / low_watermark)
PLAN = ([("team/small", 50_000)] * 2 + [("team/big", 150_000)] * 6 + [("team/small", 50_000)] * 2
        + [("team/big", 150_000)] * 2)
"""Blobs pushed through the edge in this order: the sixth and each of the last two of team/big
push the store over its high watermark (three eviction batches: 3 blobs, then 1, then 1), and
the least recently used go until it is under the low one."""


def expected(plan: list[tuple[str, int]], budget: int) -> tuple[list[tuple[int, int]], dict[str, list[int]]]:
    """What the edge's LRU must do with `plan`: the (blobs, bytes) of each eviction batch, and
    repo -> [blobs, bytes] of what stays."""
    stored: list[tuple[str, int]] = []
    batches = []
    for blob in plan:
        stored.append(blob)
        if sum(n for _, n in stored) > HIGH * budget:
            gone = 0
            while sum(n for _, n in stored[gone:]) > LOW * budget:
                gone += 1
            batches.append((gone, sum(n for _, n in stored[:gone])))
            stored = stored[gone:]
    kept: dict[str, list[int]] = {}
    for repo, n in stored:
        kept.setdefault(repo, [0, 0])
        kept[repo][0] += 1
        kept[repo][1] += n
    return batches, kept


@pytest.fixture(scope="module")
def small_edge(tmp_path_factory):
    with origin_and_edge(tmp_path_factory.mktemp("ui-evict"), SMALL_BUDGET) as (_origin, edge):
        yield edge


def _sizes(row) -> int:
    return int(row.find_element("css selector", "span.size").get_attribute("title").split()[0])


def test_the_cache_page_lists_the_eviction_batches_and_the_top_repositories(small_edge, browser):
    started = time.time()
    pusher = Pusher(small_edge.url)
    for i, (repo, n) in enumerate(PLAN):
        pusher.blob(repo, seeded(f"evict-{i}", n), OCI_LAYER)
    batches, kept = expected(PLAN, SMALL_BUDGET)
    assert [b for b, _ in batches] == [3, 1, 1] and len(kept) == 2  # the plan does what its docstring says
    browser.get(small_edge.url + "/ui/cache")
    assert browser.text("table.store").count(f"{sum(b for b, _ in batches)} blobs evicted in all") == 1
    rows = browser.all("table.evictions tbody tr")
    shown = [(int(r.find_elements("css selector", "td")[1].text), _sizes(r)) for r in rows]
    assert shown == batches[::-1]  # newest first
    ages = [float(r.find_element("css selector", "span.age").get_attribute("title").split()[0]) for r in rows]
    assert all(0 <= age <= time.time() - started + 1 for age in ages), ages
    top = [(r.find_element("css selector", "td").text, int(r.find_elements("css selector", "td")[1].text),
            _sizes(r)) for r in browser.all("table.top tbody tr")]
    assert top == sorted(((repo, n, b) for repo, (n, b) in kept.items()), key=lambda t: -t[2])
    assert browser.text("main").count("As of ") == 1
    browser.shot("cache-evictions")
