"""A 2 GiB push written through to S3, and pulled back through the node, with flat memory."""
from __future__ import annotations

import http.client
import os

import pytest

from ..test_node_bytes import generated, generated_digest

MiB = 1024 * 1024


@pytest.mark.slow
def test_2gib_push_through_s3_keeps_rss_flat(fleet):
    (node,) = fleet(1)
    total = 2 * 1024 * MiB
    block = os.urandom(MiB)
    digest = generated_digest(total, block)
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=600)
    conn.request("POST", f"/v2/big/s3/blobs/uploads/?digest={digest}", body=generated(total, block),
                 encode_chunked=True)
    resp = conn.getresponse()
    assert resp.status == 201, resp.read()
    conn.close()
    peak = node.peak_rss_bytes()
    print(f"node peak RSS {peak / MiB:.0f} MiB after a 2 GiB push to S3")
    assert peak < 200 * MiB
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=600)
    conn.request("HEAD", f"/v2/big/s3/blobs/{digest}")
    resp = conn.getresponse()
    assert resp.status == 200 and int(resp.getheader("Content-Length")) == total
