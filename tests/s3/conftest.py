"""A fleet sharing one bucket on a real S3 endpoint (the suite's S3 server)."""
from __future__ import annotations

import pytest

from ..nodeproc import NodeProcess

FLEET_ENV = {"OCICACHE_CACHE_TAG_TTL": "1", "OCICACHE_S3_PART_BYTES": str(5 * 1024 * 1024)}


@pytest.fixture
def bucket(s3server):
    """A fresh bucket, emptied and deleted after the test (RGW's memstore keeps objects in RAM)."""
    name = s3server.new_bucket()
    yield name
    drop_bucket(s3server.client(), name)


@pytest.fixture
def fleet(tmp_path, s3server, bucket):
    """fleet(n) -> n started nodes whose origin is s3://<bucket>/fleet."""
    started: list[NodeProcess] = []

    def make(count: int = 2) -> list[NodeProcess]:
        nodes = [NodeProcess(tmp_path / f"node{len(started) + i}", "--origin", f"s3://{bucket}/fleet",
                             env={**s3server.env, **FLEET_ENV}) for i in range(count)]
        for node in nodes:
            node.start()
            started.append(node)
        return nodes

    yield make
    for node in started:
        node.stop()


def bucket_keys(s3server, bucket: str) -> list[str]:
    pages = s3server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def pending_multipart(s3server, bucket: str) -> list[str]:
    """Keys of the multipart uploads in progress (paginated: RGW honours MaxUploads, moto did not)."""
    pages = s3server.client().get_paginator("list_multipart_uploads").paginate(Bucket=bucket)
    return [u["Key"] for page in pages for u in page.get("Uploads", [])]


def drop_bucket(client, bucket: str) -> None:
    """Abort the bucket's multipart uploads, delete its objects, then the bucket."""
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for up in page.get("Uploads", []):
            client.abort_multipart_upload(Bucket=bucket, Key=up["Key"], UploadId=up["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        if keys := [{"Key": o["Key"]} for o in page.get("Contents", [])]:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket(Bucket=bucket)
