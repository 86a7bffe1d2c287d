"""Shared fixtures: the app built by the same factory the CLI uses, and real node processes."""
from __future__ import annotations

import pytest

from ocicache import config
from ocicache.app import make_app

from .nodeproc import NodeProcess


@pytest.fixture
def cfg(tmp_path):
    """The embedded default (local-directory origin) in a fresh data dir; environment ignored."""
    return config.load(env={}, overrides={"storage": {"data_dir": str(tmp_path / "data")}})


@pytest.fixture
async def client(aiohttp_client, cfg):
    """An aiohttp test client talking to make_app(cfg) on a free loopback port."""
    return await aiohttp_client(make_app(cfg))


@pytest.fixture
def node(tmp_path):
    """A real `python -m ocicache serve` process on a free port; stopped after the test."""
    proc = NodeProcess(tmp_path / "node")
    proc.start()
    yield proc
    proc.stop()
