"""An origin node, a fault proxy in front of it, and edge nodes reading through the proxy."""
from __future__ import annotations

import pytest

from ..faultproxy import FaultProxy
from ..nodeproc import NodeProcess

EDGE_ENV = {"OCICACHE_CACHE_TAG_TTL": "1", "OCICACHE_CACHE_STALE_IF_ERROR": "2",
            "OCICACHE_CACHE_NEGATIVE_TTL": "0.5"}


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    node = NodeProcess(tmp_path_factory.mktemp("origin") / "node")
    node.start()
    yield node
    node.stop()


@pytest.fixture
def proxy(origin):
    with FaultProxy(origin.url) as fp:
        yield fp


@pytest.fixture
def make_edge(tmp_path, proxy):
    """make_edge(*args, **env) -> a started edge node whose origin is the fault proxy."""
    started = []

    def make(*args: str, name: str = "edge", **env: str) -> NodeProcess:
        node = NodeProcess(tmp_path / name, "--origin", proxy.url, *args, env={**EDGE_ENV, **env})
        node.start()
        started.append(node)
        return node

    yield make
    for node in started:
        node.stop()
