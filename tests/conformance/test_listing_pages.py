"""Listings a page at a time (`list_tags`/`list_repositories` with `n` and `last`, issue 23), on
every origin kind: the same names in the same byte order as the whole listing, page after page."""
from __future__ import annotations

import os

from .test_origin_contract import digest_of, manifest, put_blob


async def test_pages_after_last_of_at_most_n(subject, tmp_path):
    prefix = f"pages{os.urandom(3).hex()}"  # the bucket is shared: names of this test only
    repos = [f"{prefix}/a", f"{prefix}/a/b", f"{prefix}/a-b", f"{prefix}/b"]
    tags = ["v1", "V2", "a", "a.b", "a-b", "a_b", "1.0"]
    for repo in repos:
        layer = await put_blob(subject, tmp_path, repo, b"layer bytes")
        data = manifest(layer, 11)
        for tag in tags if repo == repos[0] else ["v1"]:
            await subject.writer.put_manifest(repo, digest_of(data), data, tag)
    origin = subject.origin
    assert await origin.list_tags(repos[0]) == sorted(tags)
    pages, last = [], None
    while page := await origin.list_tags(repos[0], 3, last):
        pages.append(page)
        last = page[-1]
    assert pages == [sorted(tags)[i:i + 3] for i in range(0, len(tags), 3)]
    assert await origin.list_tags(repos[0], None, "a-b") == sorted(t for t in tags if t > "a-b")
    assert await origin.list_tags(repos[0], 0, None) == []
    assert await origin.list_repositories(2, f"{prefix}/") == sorted(repos)[:2]
    assert await origin.list_repositories(2, sorted(repos)[1]) == sorted(repos)[2:]
    assert await origin.list_repositories(None, f"{prefix}/a-b") == [f"{prefix}/a/b", f"{prefix}/b"]
