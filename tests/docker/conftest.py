"""One private Docker engine for the session (tests/dockerd.py), no images left between tests,
and the ocicache nodes the Docker tests push to and pull from."""
from __future__ import annotations

import shutil

import pytest

from ..clients.fixtures import image_layout  # noqa: F401  (fixture: generated OCI layouts)
from ..dockerd import DockerEngine
from ..nodeproc import NodeProcess
from .helpers import TIMINGS


@pytest.fixture(scope="session")
def engine():
    """The session's dockerd (started in about a second; stopped by PID, data root removed)."""
    dockerd = DockerEngine().start()
    yield dockerd
    dockerd.stop()


@pytest.fixture
def docker(engine):
    """The engine, with every image removed after the test (vfs keeps a full copy per layer)."""
    yield engine
    engine.clean_images()
    engine.forget_logins()


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    """An ocicache node with its own (local directory) origin: the registry pushed to."""
    base = tmp_path_factory.mktemp("origin")
    node = NodeProcess(base / "node")
    node.start()
    yield node
    node.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def make_edge(tmp_path):
    """make_edge(origin_url, *args, **env) -> a started edge (`--origin URL --workers 2`)."""
    started = []

    def make(origin_url: str, *args: str, name: str = "edge", **env: str) -> NodeProcess:
        node = NodeProcess(tmp_path / name, "--origin", origin_url, "--workers", "2", *args, env=env)
        node.start()
        started.append(node)
        return node

    yield make
    for node in started:
        node.stop()
        shutil.rmtree(node.data_dir, ignore_errors=True)


@pytest.fixture(autouse=True)
def step_timings(request):
    """The steps a test timed (helpers.timed) go on its report as `step time` properties; the
    root conftest prints them at the end of the session, also from pytest-xdist workers."""
    yield
    request.node.user_properties.extend(("step time", line) for line in TIMINGS)
    TIMINGS.clear()
