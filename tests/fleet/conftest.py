"""The fleet tests' fixtures: one fleet per session (about 3 s to build), healed before every
test (dead nodes restarted, cables plugged back, DNS answering every edge again), and a results
folder for the measurements and the failover timeline."""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from ..clients.images import Shape, build
from ..clients.tools import missing
from .fleet import Fleet
from .geodns import stated_failover
from .netns import missing_requirements
from .nodes import REPO

MiB = 1024 * 1024
SHAPES = {"small": Shape("fleet-small", (2 * MiB, 1 * MiB)),
          "big": Shape("fleet-big", (6 * MiB, 6 * MiB))}


@pytest.fixture(scope="session")
def results_dir() -> Path:
    """Where the fleet tests write measurements and the timeline (OCICACHE_FLEET_RESULTS)."""
    path = Path(os.environ.get("OCICACHE_FLEET_RESULTS") or REPO / "bench" / "results" / "fleet")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def record(results_dir):
    """record(scenario, **measurements): printed and written to <results>/<scenario>.json."""
    def write(scenario: str, **values) -> None:
        print(f"\n[fleet] {scenario}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
        (results_dir / f"{scenario}.json").write_text(json.dumps(values, indent=2, default=str) + "\n")
    return write


@pytest.fixture(scope="session")
def fleet(s3server):
    if why := missing_requirements():
        missing("fleet tests: " + "; ".join(why))
    workdir = Path(tempfile.mkdtemp(prefix="ocfleet-"))
    with Fleet(s3server, workdir) as built:
        print(f"\n[fleet] built in {built.started_in:.1f} s: {len(built.nodes)} nodes, bucket {built.bucket}")
        yield built


@pytest.fixture
def healthy(fleet):
    """The fleet with every node running and reachable and DNS answering every edge."""
    fleet.heal(timeout=stated_failover().at_server + 10)
    return fleet


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    """images(kind, seed) -> a generated OCI layout (kinds: small, big), built once per session."""
    root = tmp_path_factory.mktemp("fleet-images")
    built = {}

    def get(kind: str, seed: int):
        if (kind, seed) not in built:
            built[kind, seed] = build(SHAPES[kind], root / f"{kind}-{seed}", seed)
        return built[kind, seed]

    yield get
    shutil.rmtree(root, ignore_errors=True)

