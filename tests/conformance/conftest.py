"""The origins under the contract suite: a directory, S3 (the suite's Ceph RGW) and another
registry (an ocicache node served in-process, whose directory the suite writes through), each
with a teardown that fails if the origin left something behind."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from ocicache import config
from ocicache.app import make_app
from ocicache.origin import Origin, open_origin
from ocicache.origin.base import UploadMode
from ocicache.origin.fs import FilesystemOrigin

from ..conftest import s3_overrides

KINDS = ["directory", pytest.param("s3", marks=pytest.mark.rgw), "registry"]


@dataclass
class Subject:
    kind: str
    origin: Origin          # what the contract is checked on
    writer: Origin          # where content is put (the origin itself, or the registry's backing store)
    leftovers: object       # async () -> list of what should not be there after the test

    @property
    def writable(self) -> bool:
        """Writes through `origin` are taken (a registry origin forwards them to its node)."""
        return self.origin.upload_mode is not UploadMode.READ_ONLY


def _tmp_files(root: Path):
    async def leftovers() -> list[str]:
        return [str(p) for p in root.rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".check.")]
    return leftovers


@pytest.fixture(params=KINDS)
async def subject(request, tmp_path, aiohttp_server):
    kind = request.param
    if kind == "directory":
        origin = FilesystemOrigin(tmp_path / "origin")
        yield_subject = Subject(kind, origin, origin, _tmp_files(tmp_path / "origin"))
    elif kind == "s3":
        s3server = request.getfixturevalue("s3server")
        cfg = config.load(env={}, overrides=s3_overrides(s3server, tmp_path / "data"))
        origin = open_origin(cfg.origin_url, cfg.s3)

        async def multipart_left() -> list[str]:
            return [key for key, _id in await origin.s3.list_multipart(origin.key(""), "listing uploads")]
        yield_subject = Subject(kind, origin, origin, multipart_left)
    else:
        node_dir = tmp_path / "node"
        node = await aiohttp_server(make_app(config.load(env={}, overrides={"storage": {"data_dir": str(node_dir)}})))
        writer = FilesystemOrigin(node_dir / "origin")
        origin = open_origin(str(node.make_url("")).rstrip("/"))
        yield_subject = Subject(kind, origin, writer, _tmp_files(node_dir / "origin"))
    try:
        yield yield_subject
        left = await yield_subject.leftovers()
        assert not left, f"the {kind} origin left {left}"
    finally:
        await yield_subject.origin.close()
        if yield_subject.writer is not yield_subject.origin:
            await yield_subject.writer.close()


def staged(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / f"staged-{os.urandom(4).hex()}"
    path.write_bytes(data)
    return path
