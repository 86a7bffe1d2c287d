"""An origin (an ocicache node, or CNCF distribution), a fault proxy in front of it, and edge
nodes reading through the proxy. Every test using `origin` runs against both kinds; one that
needs an ocicache-only feature of the origin narrows it, with a one-line comment saying why:
`@pytest.mark.parametrize("origin", ["ocicache"], indirect=True)`. (None needs to today.)"""
from __future__ import annotations

import pytest

from ..faultproxy import FaultProxy
from ..nodeproc import NodeProcess
from .origins import KINDS, Origin

EDGE_ENV = {"OCICACHE_CACHE_TAG_TTL": "1", "OCICACHE_CACHE_STALE_IF_ERROR": "2",
            "OCICACHE_CACHE_NEGATIVE_TTL": "0.5"}


@pytest.fixture(scope="module", params=KINDS)
def origin(request, tmp_path_factory):
    node = Origin(request.param, tmp_path_factory.mktemp(f"origin-{request.param}"))
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
