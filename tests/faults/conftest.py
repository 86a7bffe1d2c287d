"""Fault scenarios: an origin node, the fault proxy in front of it, edge nodes reading through
it (the fixtures of tests/edge), and /proc probes of the node processes."""
from __future__ import annotations

from ..edge.conftest import make_edge, origin, proxy  # noqa: F401  (fixtures)
