"""The cache page in a browser, on an edge node in front of another node after pulls through
it: the store against its budget, the hits, the origin's health; and on the origin node,
which keeps no cache, no link to it and a 404."""
from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest

from ..nodeproc import NodeProcess
from .content import Pusher, push_image

BUDGET = 50_000_000


@pytest.fixture(scope="module")
def nodes(tmp_path_factory):
    base = tmp_path_factory.mktemp("ui-cache")
    origin = NodeProcess(base / "origin")
    origin.start()
    edge = NodeProcess(base / "edge", "--origin", origin.url, "--cache-max-bytes", str(BUDGET))
    try:
        edge.start()
    except RuntimeError:
        origin.stop()
        raise
    yield origin, edge
    edge.stop()
    origin.stop()


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
    assert "None on this worker" in browser.text("main")  # nothing is being fetched now
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
