"""Fixtures for tests that drive real clients; import them into a conftest.py to use them:

    from ..clients.fixtures import image_layout, origin_and_edge  # noqa: F401  (fixtures)
"""
from __future__ import annotations

import shutil

import pytest

from ..nodeproc import NodeProcess
from .images import LayoutCache


@pytest.fixture(scope="session")
def image_layout(tmp_path_factory):
    """image_layout(shape, seed=0) -> images.Layout, each built once per test session (the
    folders are removed when the session ends); image_layout.drop(shape) frees one early."""
    cache = LayoutCache(tmp_path_factory.mktemp("oci-images"))
    yield cache
    cache.clear()


@pytest.fixture(scope="module")
def origin_and_edge(tmp_path_factory):
    """An origin node (local-directory origin) and an edge node in front of it
    (`--origin <origin> --workers 2`), for one test module; data dirs removed afterwards."""
    base = tmp_path_factory.mktemp("nodes")
    origin, edge = NodeProcess(base / "origin"), None
    try:
        origin.start()
        edge = NodeProcess(base / "edge", "--origin", origin.url, "--workers", "2")
        edge.start()
        yield origin, edge
    finally:
        if edge is not None:
            edge.stop()
        origin.stop()
        shutil.rmtree(base, ignore_errors=True)
