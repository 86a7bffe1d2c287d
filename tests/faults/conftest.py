"""Fault scenarios: an origin node, the fault proxy in front of it, edge nodes reading through
it (the fixtures of tests/edge), and /proc probes of the node processes."""
from __future__ import annotations

import pytest

from ..edge.conftest import make_edge, proxy  # noqa: F401  (fixtures)
from ..edge.origins import Origin


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """An ocicache origin only: these scenarios push with ocisync's one-request upload, which
    distribution 2.8 refuses (tests/edge runs the edge against both kinds of origin)."""
    node = Origin("ocicache", tmp_path_factory.mktemp("origin"))
    yield node
    node.stop()
