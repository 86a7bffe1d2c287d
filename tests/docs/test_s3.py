"""docs/S3.md, run as written against the suite's S3 (Ceph RGW, tests/rgw.py): credentials in the
environment, the bucket created with boto3 from the node's venv, `config check` showing the
bucket and endpoint, the node serving and writing pushes through in distribution's layout;
and what the document says of a missing bucket."""
from __future__ import annotations

import os
import uuid

from ..nodeproc import NodeProcess, free_port
from ..ocisync import push_image, request
from .conftest import pull
from .shell import VENV_BIN, DocShell

SERVE = "ocicache serve --listen 0.0.0.0:5000 --origin s3://my-bucket/registry --data-dir /var/cache/ocicache"


def test_s3_md(tmp_path, s3server):
    bucket = f"docs-{uuid.uuid4().hex[:16]}"
    port = free_port()
    keys = f"AWS_ACCESS_KEY_ID={s3server.access_key} AWS_SECRET_ACCESS_KEY={s3server.secret_key}"
    sh = DocShell("S3.md", tmp_path, env={"AWS_ENDPOINT_URL": s3server.url, "AWS_DEFAULT_REGION": "us-east-1"},
                  subs=[("AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...", keys),
                        ("/opt/ocicache/venv/bin/python", str(VENV_BIN / "python")), ("my-bucket", bucket),
                        ("0.0.0.0:5000", f"127.0.0.1:{port}"), ("/var/cache/ocicache", str(tmp_path / "cache"))])
    try:
        sh.run("export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...")
        sh.run("/opt/ocicache/venv/bin/python -c 'import boto3; boto3.client(\"s3\").create_bucket(Bucket=\"my-bucket\")'")
        assert bucket in [b["Name"] for b in s3server.client().list_buckets()["Buckets"]]
        check = sh.run("ocicache config check --origin s3://my-bucket/registry").stdout
        assert f"s3://{bucket}/registry (bucket {bucket}, prefix registry, endpoint {s3server.url}" in check, check
        assert "credentials from the AWS credential chain" in check, check
        url = f"http://127.0.0.1:{port}"
        sh.start(SERVE, url + "/v2/")
        push_image(url, "team/app", "v1", os.urandom(200_000))
        digests = pull(url, "team/app", "v1")
        keys_in_bucket = {o["Key"] for o in s3server.client().list_objects_v2(Bucket=bucket, Prefix="registry/")
                          .get("Contents", [])}
        for digest in digests:   # "Layout": distribution's s3 driver keys under the prefix
            hexd = digest[7:]
            assert f"registry/docker/registry/v2/blobs/sha256/{hexd[:2]}/{hexd}/data" in keys_in_bucket, digest
        assert any("/repositories/team/app/_manifests/tags/v1/current/link" in k for k in keys_in_bucket)
    finally:
        sh.close()


def test_a_missing_bucket_fails_readyz_and_pulls_name_it(tmp_path, s3server):
    missing = f"docs-missing-{uuid.uuid4().hex[:8]}"
    node = NodeProcess(tmp_path / "node", "--origin", f"s3://{missing}/registry", env=s3server.env)
    node.start()
    try:
        status, _, body = request(node.url, "GET", "/readyz")
        assert status == 503, body
        status, _, body = request(node.url, "GET", "/v2/team/app/manifests/v1")
        assert status == 503 and b"UNAVAILABLE" in body and missing.encode() in body, body
    finally:
        node.stop()
