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


@pytest.fixture(scope="session")
def s3server():
    """The suite's S3 for the whole session: Ceph's RADOS Gateway on a throwaway single-node
    cluster (tests/rgw.py). Missing Ceph programs fail the run in CI and skip elsewhere."""
    from .rgw import RGWServer, require_ceph

    require_ceph()
    server = RGWServer().start()
    yield server
    server.stop()


def pytest_collection_modifyitems(items):
    """Tests on the suite's S3 (`s3server`) run against Ceph RGW: marker `rgw`. Fixtures that
    request s3server at run time (getfixturevalue) mark their S3 param with `rgw` themselves."""
    for item in items:
        if "s3server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.rgw)


STEP_TIMES: list[str] = []  # "step time" properties of the session's reports (tests/docker)


def pytest_runtest_logreport(report):
    if report.when == "teardown":
        STEP_TIMES.extend(value for name, value in report.user_properties if name == "step time")


def pytest_terminal_summary(terminalreporter):
    if STEP_TIMES:
        terminalreporter.section("docker: time per step of the user-shaped images")
        for line in STEP_TIMES:
            terminalreporter.write_line(line)


def s3_overrides(s3server, data_dir, bucket: str | None = None) -> dict:
    """Config overrides for a node whose origin is a fresh bucket on the suite's S3 server."""
    env = s3server.env
    return {"storage": {"data_dir": str(data_dir), "origin": f"s3://{bucket or s3server.new_bucket()}/registry"},
            "s3": {"endpoint_url": s3server.url, "access_key_id": env["AWS_ACCESS_KEY_ID"],
                   "secret_access_key": env["AWS_SECRET_ACCESS_KEY"], "region": "us-east-1",
                   "part_bytes": 5 * 1024 * 1024}}
