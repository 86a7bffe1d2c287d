"""Push throughput through a node to S3 (write-through multipart) against a direct boto3
upload of the same bytes to the same endpoint, in one run. Target (issue 5): >= 0.8x.
The endpoint is moto in server mode on loopback, so both sides share its speed limits.

Run: make bench   (or .venv/bin/python -m pytest bench -k s3 --benchmark-only)
"""
from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from tests.motoserver import MotoServer
from tests.nodeproc import NodeProcess

SIZE = 256 * 1024 * 1024


@pytest.fixture(scope="module")
def s3_setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("s3bench")
    moto = MotoServer().start()
    bucket = moto.new_bucket()
    blob = base / "blob"
    blob.write_bytes(os.urandom(SIZE))
    digest = "sha256:" + hashlib.sha256(blob.read_bytes()).hexdigest()
    node = NodeProcess(base / "node", "--origin", f"s3://{bucket}/bench", env=moto.env)
    node.start()
    yield moto, bucket, node, blob, digest
    node.stop()
    moto.stop()


@pytest.mark.parametrize("target", ["boto3-direct", "node-write-through"])
def test_push_256mib_to_s3(benchmark, s3_setup, target):
    moto, bucket, node, blob, digest = s3_setup
    benchmark.group = "push 256 MiB to S3 (moto)"
    if target == "boto3-direct":
        client = moto.client()
        run = lambda: client.upload_file(str(blob), bucket, "direct/blob")  # noqa: E731
    else:
        url = f"{node.url}/v2/bench/push/blobs/uploads/?digest={digest}"

        def run():
            out = subprocess.run(["curl", "-sf", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                                  "-H", "Content-Type: application/octet-stream", "--data-binary", f"@{blob}", url],
                                 capture_output=True, text=True)
            assert out.stdout == "201", out
    benchmark.pedantic(run, rounds=3, warmup_rounds=1)
    benchmark.extra_info["MB/s at median"] = round(SIZE / benchmark.stats.stats.median / 1e6)
