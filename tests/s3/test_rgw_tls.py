"""A node whose S3 origin is Ceph RGW over HTTPS. botocore >= 1.36 would send every upload as an
aws-chunked body without Content-Length there, which RGW refuses with 411 MissingContentLength;
the node's S3 client must push (single PUT and multipart) and pull through it all the same."""
from __future__ import annotations

import os

import pytest

from ..nodeproc import NodeProcess
from ..ocisync import request, sha
from ..rgw import RGWServer, require_ceph
from .conftest import bucket_keys, drop_bucket, pending_multipart

pytestmark = pytest.mark.rgw
MiB = 1024 * 1024


@pytest.fixture(scope="module")
def rgw_https():
    """A cluster of its own: the suite's session RGW speaks plain HTTP."""
    require_ceph()
    server = RGWServer(memstore_bytes=1024 * MiB, tls=True).start()
    yield server
    server.stop()


@pytest.fixture
def https_nodes(tmp_path, rgw_https):
    """Two nodes on one bucket: one pushes, the other (empty cache) pulls from RGW."""
    bucket = rgw_https.new_bucket()
    nodes = [NodeProcess(tmp_path / f"node{i}", "--origin", f"s3://{bucket}/tls",
                         env={**rgw_https.env, "OCICACHE_S3_PART_BYTES": str(5 * MiB)}) for i in range(2)]
    for node in nodes:
        node.start()
    yield nodes, bucket
    for node in nodes:
        node.stop()
    drop_bucket(rgw_https.client(), bucket)


def test_push_and_pull_through_rgw_over_https(https_nodes, rgw_https):
    (pusher, puller), bucket = https_nodes
    assert rgw_https.url.startswith("https://") and rgw_https.env["AWS_CA_BUNDLE"]
    small = os.urandom(64 * 1024)                     # one PutObject
    status, _, body = request(pusher.url, "POST", f"/v2/tls/app/blobs/uploads/?digest={sha(small)}", small)
    assert status == 201, body
    big = os.urandom(12 * MiB + 5)                    # write-through multipart: three UploadPart
    status, headers, _ = request(pusher.url, "POST", "/v2/tls/app/blobs/uploads/")
    assert status == 202
    status, _, body = request(pusher.url, "PATCH", headers["Location"], big,
                              {"Content-Range": f"0-{len(big) - 1}"})
    assert status == 202, body
    status, _, body = request(pusher.url, "PUT", f"{headers['Location']}?digest={sha(big)}")
    assert status == 201, body
    keys = bucket_keys(rgw_https, bucket)
    for data in (small, big):
        hexdigest = sha(data)[7:]
        assert f"tls/docker/registry/v2/blobs/sha256/{hexdigest[:2]}/{hexdigest}/data" in keys, keys
        assert request(puller.url, "GET", f"/v2/tls/app/blobs/{sha(data)}")[2] == data
    assert pending_multipart(rgw_https, bucket) == []
