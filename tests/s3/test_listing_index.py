"""The S3 origin's listing index (origin/s3listings.py): rebuilt from distribution's keys when
its marker is missing, pages in the spec's byte order (which distribution's keys do not sort
in: `a-b/` before `a/`), kept by the write path and seen by every node."""
from __future__ import annotations

import hashlib

from ocicache import config
from ocicache.origin import layout, open_origin
from ocicache.reference import Digest

from ..conftest import s3_overrides

DATA = b'{"schemaVersion": 2}'
DIGEST = Digest.from_hex(hashlib.sha256(DATA).hexdigest())


async def test_rebuilt_from_the_layout_then_kept_by_writes(s3server, bucket, tmp_path):
    cfg = config.load(env={}, overrides=s3_overrides(s3server, tmp_path / "data", bucket))
    client, base = s3server.client(), f"registry/{layout.ROOT}"
    for repo, tags in {"x/a": ["a", "a-b", "a.b"], "x/a-b": ["v1"], "x/a/b": []}.items():  # as registry:2 writes
        client.put_object(Bucket=bucket, Key=f"{base}/{layout.revision_link(repo, DIGEST)}", Body=str(DIGEST).encode())
        for tag in tags:
            client.put_object(Bucket=bucket, Key=f"{base}/{layout.tag_current_link(repo, tag)}",
                              Body=str(DIGEST).encode())
    first, second = open_origin(cfg.origin_url, cfg.s3), open_origin(cfg.origin_url, cfg.s3)
    try:
        assert await first.list_repositories() == ["x/a", "x/a-b", "x/a/b"]
        assert await first.list_tags("x/a") == ["a", "a-b", "a.b"]
        assert await first.list_tags("x/a", 1, "a") == ["a-b"]
        await first.put_manifest("x/a/b", DIGEST, DATA, "new")
        await first.put_manifest("y", DIGEST, DATA, None)
        assert await second.list_tags("x/a/b") == ["new"]
        assert await second.list_repositories(2, "x/a-b") == ["x/a/b", "y"]
        await second.delete_tag("x/a", "a-b")
        assert await first.list_tags("x/a") == ["a", "a.b"]
    finally:
        await first.close()
        await second.close()
