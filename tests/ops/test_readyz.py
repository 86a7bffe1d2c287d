"""/readyz on every origin kind, each asked through its own `check()`: a directory origin,
S3, another registry, mirrored upstreams (a cache in front of the last three), healthy and
failing (directory read-only, bucket gone, origin down, upstream down)."""
from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

from ocicache import config
from ocicache.app import make_app

from ..conftest import s3_overrides


async def readyz(client) -> tuple[int, dict[str, dict]]:
    resp = await client.get("/readyz")
    body = await resp.json()
    assert body["ready"] is (resp.status == 200)
    return resp.status, {c["name"]: c for c in body["checks"]}


@contextlib.contextmanager
def read_only(path: Path):
    """No new file in `path`. Root ignores permission bits, so as root the directory is made
    immutable (chattr +i), which holds for root too."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(0o555)
        try:
            yield
        finally:
            path.chmod(mode)


def node_config(data_dir: Path, **sections) -> config.Config:
    return config.load(env={}, overrides={"storage": {"data_dir": str(data_dir)}, **sections})


async def test_directory_origin_ready_then_read_only(aiohttp_client, tmp_path):
    client = await aiohttp_client(make_app(node_config(tmp_path / "data")))
    status, checks = await readyz(client)
    assert status == 200 and checks["origin"]["ok"] and checks["disk"]["ok"]
    assert "readable and writable" in checks["origin"]["detail"]
    blobs = tmp_path / "data" / "origin" / "docker" / "registry" / "v2" / "blobs"
    with read_only(blobs):
        status, checks = await readyz(client)
    assert status == 503 and not checks["origin"]["ok"] and checks["disk"]["ok"]
    assert str(tmp_path / "data" / "origin") in checks["origin"]["detail"]
    assert "not readable and writable" in checks["origin"]["detail"]
    assert (await readyz(client))[0] == 200


async def test_s3_origin_ready_then_bucket_gone(aiohttp_client, tmp_path, s3server):
    """The bug this fixes: /readyz answered 503 on every S3 node (it took the key prefix for
    a folder and found it missing)."""
    bucket = s3server.new_bucket()
    client = await aiohttp_client(make_app(config.load(env={}, overrides=s3_overrides(s3server, tmp_path, bucket))))
    status, checks = await readyz(client)
    assert status == 200 and checks["origin"]["ok"], checks
    assert f"s3://{bucket}/registry" in checks["origin"]["detail"]
    s3server.client().delete_bucket(Bucket=bucket)
    status, checks = await readyz(client)
    assert status == 503 and not checks["origin"]["ok"] and checks["disk"]["ok"]
    assert f"bucket {bucket} does not exist" in checks["origin"]["detail"]


async def test_registry_origin_ready_then_down(aiohttp_client, aiohttp_server, tmp_path):
    origin = await aiohttp_server(make_app(node_config(tmp_path / "origin")))
    url = str(origin.make_url("")).rstrip("/")
    edge = await aiohttp_client(make_app(node_config(tmp_path / "edge", storage={
        "data_dir": str(tmp_path / "edge"), "origin": url}, ops={"ready_origin_timeout": 2})))
    status, checks = await readyz(edge)
    assert status == 200 and checks["origin"]["detail"] == f"{url}/v2/ answered 200"
    await origin.close()
    status, checks = await readyz(edge)
    assert status == 503 and not checks["origin"]["ok"] and "unreachable" in checks["origin"]["detail"]
    assert checks["disk"]["ok"]


async def test_mirrored_upstream_checked_by_name(aiohttp_client, aiohttp_server, tmp_path):
    upstream = await aiohttp_server(make_app(node_config(tmp_path / "upstream")))
    url = str(upstream.make_url("")).rstrip("/")
    mirror = await aiohttp_client(make_app(node_config(tmp_path / "mirror", upstreams={
        "registries": {"upstream.example": url}}, ops={"ready_origin_timeout": 2})))
    status, checks = await readyz(mirror)
    assert status == 200 and checks["upstream upstream.example"]["ok"] and checks["origin"]["ok"]
    await upstream.close()
    status, checks = await readyz(mirror)
    assert status == 503 and not checks["upstream upstream.example"]["ok"]
    assert "unreachable" in checks["upstream upstream.example"]["detail"]
    assert checks["origin"]["ok"]  # the node's own directory origin is fine
