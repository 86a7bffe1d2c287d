"""Blob GET throughput of a 256 MiB cached blob over loopback: zero-copy range copy
(sendfile) against the streamed read()+write() path, two nodes on the same data dir,
measured in the same run. The client is curl writing to /dev/null.

Run: make bench   (or .venv/bin/python -m pytest bench -k blob_get --benchmark-only)
"""
from __future__ import annotations

import hashlib
import http.client
import os
import subprocess

import pytest

from tests.nodeproc import NodeProcess

SIZE = 256 * 1024 * 1024


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """(data dir, digest) of a 256 MiB blob pushed through a node."""
    data_dir = tmp_path_factory.mktemp("blobget") / "node"
    block = os.urandom(1024 * 1024)
    digest = "sha256:" + hashlib.sha256(block * (SIZE // len(block))).hexdigest()
    node = NodeProcess(data_dir)
    node.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=300)
        conn.request("POST", f"/v2/bench/blob/blobs/uploads/?digest={digest}",
                     body=(block for _ in range(SIZE // len(block))), encode_chunked=True)
        assert conn.getresponse().status == 201
    finally:
        node.stop()
    return data_dir, digest


@pytest.mark.parametrize("path", ["sendfile", "streamed"])
def test_blob_get_256mib(benchmark, seeded, path):
    data_dir, digest = seeded
    env = {} if path == "sendfile" else {"OCICACHE_SERVER_SENDFILE": "false"}
    node = NodeProcess(data_dir, env=env)
    node.start()
    url = f"{node.url}/v2/bench/blob/blobs/{digest}"
    benchmark.group = "blob GET 256 MiB, loopback"
    benchmark.extra_info["MB/s at median"] = None
    try:
        def get():
            out = subprocess.run(["curl", "-sf", "-o", "/dev/null", "-w", "%{size_download}", url],
                                 capture_output=True, text=True, check=True)
            assert int(out.stdout) == SIZE
        benchmark.pedantic(get, rounds=8, warmup_rounds=1)
        benchmark.extra_info["MB/s at median"] = round(SIZE / benchmark.stats.stats.median / 1e6)
    finally:
        node.stop()
