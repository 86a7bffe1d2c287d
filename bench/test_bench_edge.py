"""The edge cache against its origin, in one run: a cold miss through the edge node
(time to first byte and total) against fetching the same blob directly from the origin
node, and a warm hit. Targets (issue 4): cold total <= 1.15x direct; cold first byte
<= direct + 20 ms.

Run: make bench   (or .venv/bin/python -m pytest bench -k edge --benchmark-only)
"""
from __future__ import annotations

import hashlib
import http.client
import os
import statistics
import subprocess

import pytest

from ocicache.cache import BlobStore
from tests.nodeproc import NodeProcess

SIZE = 256 * 1024 * 1024


@pytest.fixture(scope="module")
def edge_setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("edge")
    origin = NodeProcess(base / "origin")
    origin.start()
    block = os.urandom(1024 * 1024)
    digest = "sha256:" + hashlib.sha256(block * (SIZE // len(block))).hexdigest()
    conn = http.client.HTTPConnection("127.0.0.1", origin.port, timeout=300)
    conn.request("POST", f"/v2/bench/edge/blobs/uploads/?digest={digest}",
                 body=(block for _ in range(SIZE // len(block))), encode_chunked=True)
    assert conn.getresponse().status == 201
    edge = NodeProcess(base / "edge", "--origin", origin.url)
    edge.start()
    yield origin, edge, digest
    edge.stop()
    origin.stop()


def curl(url: str) -> tuple[float, float]:
    """(time to first byte, total) of one GET, in seconds."""
    out = subprocess.run(["curl", "-sf", "-o", "/dev/null", "-w", "%{time_starttransfer} %{time_total} "
                          "%{size_download}", url], capture_output=True, text=True, check=True).stdout.split()
    assert int(out[2]) == SIZE
    return float(out[0]), float(out[1])


def empty_edge_cache(edge: NodeProcess) -> None:
    store = BlobStore(edge.data_dir / "cache", max_bytes=1 << 40)
    store.prune(0)
    store.close()


@pytest.mark.parametrize("target", ["origin-direct", "edge-cold", "edge-warm"])
def test_blob_256mib(benchmark, edge_setup, target):
    origin, edge, digest = edge_setup
    node = origin if target == "origin-direct" else edge
    url = f"{node.url}/v2/bench/edge/blobs/{digest}"
    ttfb = []
    benchmark.group = "edge: 256 MiB blob GET"
    if target == "edge-warm":
        curl(url)

    def setup():
        if target == "edge-cold":
            empty_edge_cache(edge)

    def get():
        ttfb.append(curl(url)[0])

    benchmark.pedantic(get, setup=setup, rounds=6, warmup_rounds=0)
    benchmark.extra_info["ttfb_median_ms"] = round(statistics.median(ttfb) * 1000, 1)
    benchmark.extra_info["MB/s at median"] = round(SIZE / benchmark.stats.stats.median / 1e6)
