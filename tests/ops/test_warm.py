"""`ocicache warm` with a real image: a generated multi-platform image (tests/clients/images.py), pushed
by skopeo to an origin node, warmed into an edge through a request-counting proxy."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from ..clients.images import build
from ..faultproxy import FaultProxy
from ..nodeproc import NodeProcess
from ..ocisync import request

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def in_cache(edge: NodeProcess, digest: str) -> bool:
    return (edge.data_dir / "cache/blobs/sha256" / digest[7:9] / digest[7:]).exists()


def platform_blobs(origin: NodeProcess, repo: str) -> dict[str, list[str]]:
    _, _, body = request(origin.url, "GET", f"/v2/{repo}/manifests/v1", headers={"Accept": INDEX})
    out = {}
    for m in json.loads(body)["manifests"]:
        _, _, data = request(origin.url, "GET", f"/v2/{repo}/manifests/{m['digest']}", headers={"Accept": MANIFEST})
        doc = json.loads(data)
        out[f"{m['platform']['os']}/{m['platform']['architecture']}"] = [
            d["digest"] for d in [doc["config"], *doc["layers"]]]
    return out


def warm(edge: NodeProcess, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ocicache", "warm", "--node", edge.url, *args],
                          capture_output=True, text=True, timeout=300)


def test_warm_seeds_chosen_platforms_then_all(tmp_path):
    if shutil.which("skopeo") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("skopeo is missing")
        pytest.skip("skopeo is missing")
    layout = build("multiarch", tmp_path / "img" / "multiarch")
    origin = NodeProcess(tmp_path / "origin")
    origin.start()
    try:
        subprocess.run(["skopeo", "copy", "--all", "--dest-tls-verify=false", layout.ref,
                        f"docker://{origin.hostport}/warm/multi:v1"], check=True, capture_output=True, timeout=120)
        with FaultProxy(origin.url) as proxy:
            edge = NodeProcess(tmp_path / "edge", "--origin", proxy.url, "--workers", "2")
            edge.start()
            try:
                _check_warm(origin, proxy, edge)
            finally:
                edge.stop()
    finally:
        origin.stop()


def _check_warm(origin: NodeProcess, proxy: FaultProxy, edge: NodeProcess) -> None:
    blobs = platform_blobs(origin, "warm/multi")
    assert set(blobs) == {"linux/amd64", "linux/arm64"}
    run = warm(edge, "--platform", "linux/arm64", "warm/multi:v1")
    assert run.returncode == 0, run.stderr
    assert "warmed warm/multi:v1" in run.stdout and "100%" in run.stderr   # tqdm progress bar
    assert all(in_cache(edge, d) for d in blobs["linux/arm64"])
    assert not any(in_cache(edge, d) for d in set(blobs["linux/amd64"]) - set(blobs["linux/arm64"]))
    run = warm(edge, "--no-progress", "warm/multi:v1")
    assert run.returncode == 0, run.stderr
    assert all(in_cache(edge, d) for d in blobs["linux/amd64"] + blobs["linux/arm64"])
    proxy.reset()
    for digest in blobs["linux/amd64"] + blobs["linux/arm64"]:
        assert request(edge.url, "GET", f"/v2/warm/multi/blobs/{digest}")[0] == 200
    assert proxy.counts[("GET", "blob")] == 0                  # every blob came from the warmed cache
    bad = warm(edge, "--no-progress", "warm/missing:v1", "NOT A REF")
    assert bad.returncode == 1 and "FAILED warm/missing:v1" in bad.stderr and "404" in bad.stderr
    assert "FAILED NOT A REF" in bad.stderr and "Traceback" not in bad.stderr
