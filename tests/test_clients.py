"""Real OCI clients against a real node: the shared harness (skopeo, podman, buildah,
containerd's ctr with a hosts.toml mirror, oras-py) drives `python -m ocicache serve`.

The harness pushes images it generates (single-layer ~5 MB, four layers ~100 MB, a
linux/amd64 + linux/arm64 index) to an origin node, pulls them back with every client,
directly and through an edge node whose origin is the first (`--origin http://...`, two
workers), and compares manifest digests and every blob's hash. In CI a missing client is
a failure, not a skip.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .nodeproc import NodeProcess

HARNESS = Path(__file__).resolve().parents[2] / "shared" / "harness" / "clients"
IN_CI = os.environ.get("CI") == "true"
SCENARIOS = [
    "skopeo-push-small", "skopeo-push-multilayer", "skopeo-push-multiarch-all", "skopeo-inspect-multiarch",
    "skopeo-list-tags", "skopeo-pull-small", "skopeo-pull-multilayer", "skopeo-pull-multiarch-all",
    "podman-pull-small", "podman-push-small", "podman-pull-multiarch-arm64",
    "buildah-scratch-push", "buildah-pull-multilayer",
    "ctr-content-fetch-multilayer", "ctr-pull-small", "ctr-pull-multiarch-all", "ctr-mirror-hosts-toml-ns",
    "oras-py-push-pull",
    # through the edge node (pull-through cache of the origin node)
    "proxy-skopeo-pull-multilayer", "proxy-skopeo-pull-multiarch-all", "proxy-skopeo-pull-multilayer-again",
    "proxy-podman-pull-small", "proxy-ctr-pull-multilayer", "proxy-ctr-mirror-hosts-toml-ns",
    "proxy-oras-py-pull",
]
CLIENT_OF = {"skopeo": "skopeo", "podman": "podman", "buildah": "buildah", "ctr": "containerd"}

pytestmark = [pytest.mark.clients, pytest.mark.slow]


@pytest.fixture(scope="module")
def harness_results(tmp_path_factory) -> dict[str, str]:
    if not HARNESS.is_dir():
        if IN_CI:
            pytest.fail(f"the client harness is missing at {HARNESS}")
        pytest.skip(f"the client harness is missing at {HARNESS}")
    base = tmp_path_factory.mktemp("clients")
    origin = NodeProcess(base / "origin")
    origin.start()
    edge = NodeProcess(base / "edge", "--origin", origin.url, "--workers", "2")
    try:
        edge.start()
        env = dict(os.environ, ORAS_PYTHON=sys.executable, CLIENT_TIMEOUT="300")
        run = subprocess.run(["bash", str(HARNESS / "run_clients.sh"), origin.hostport, edge.hostport],
                             env=env, capture_output=True, text=True, timeout=1200)
    finally:
        edge.stop()
        origin.stop()
    results = {}
    for line in run.stdout.splitlines():
        match = re.match(r"(PASS|FAIL|SKIP) ([\w.-]+)(?::\s*(.*))?$", line)
        if match:
            results[match.group(2)] = f"{match.group(1)} {match.group(3) or ''}".strip()
    if not results:
        pytest.fail(f"the harness printed no results:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}")
    return results


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_client_scenario(harness_results, scenario):
    client = scenario.removeprefix("proxy-").split("-")[0]
    tool = CLIENT_OF.get(client)
    if scenario not in harness_results:
        skipped = harness_results.get(tool or client, harness_results.get("oras-py", ""))
        if tool and shutil.which(tool) is None and not IN_CI:
            pytest.skip(f"{tool} is not installed ({skipped})")
        pytest.fail(f"the harness did not run {scenario}: {skipped or 'no result line'}")
    assert harness_results[scenario] == "PASS", harness_results[scenario]
