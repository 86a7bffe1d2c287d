"""The directory origin's listing index (origin/listindex.py): rebuilt from the layout when its
file is missing, shared by every origin writing the directory, and never listing a name the
layout no longer holds."""
from __future__ import annotations

import hashlib
import shutil

from ocicache.origin import layout
from ocicache.origin.fs import FilesystemOrigin
from ocicache.reference import Digest

DATA = b'{"schemaVersion": 2}'
DIGEST = Digest.from_hex(hashlib.sha256(DATA).hexdigest())


async def test_rebuilt_when_missing_shared_and_checked_against_the_layout(tmp_path):
    first = FilesystemOrigin(tmp_path)
    for tag in ("b", "a", "c"):
        await first.put_manifest("one/app", DIGEST, DATA, tag)
    second = FilesystemOrigin(tmp_path)  # another worker or node on the same directory
    await second.put_manifest("two/app", DIGEST, DATA, "x")
    assert await first.list_repositories() == ["one/app", "two/app"]
    assert await first.list_tags("one/app", 2, None) == ["a", "b"]
    shutil.rmtree(tmp_path / layout.ROOT / layout.tag_dir("one/app", "b"))  # removed behind its back
    assert await second.list_tags("one/app", 2, None) == ["a", "c"]
    assert await first.list_tags("one/app") == ["a", "c"]
    await first.close()
    await second.close()
    (tmp_path / layout.LISTINGS).unlink()
    shutil.copytree(tmp_path / layout.ROOT / layout.repo("two/app"), tmp_path / layout.ROOT / layout.repo("three"))
    rebuilt = FilesystemOrigin(tmp_path)
    assert await rebuilt.list_repositories(None, "one/app") == ["three", "two/app"]
    assert await rebuilt.list_tags("three") == ["x"]
    await rebuilt.delete_tag("three", "x")
    assert await rebuilt.list_tags("three") == []
    await rebuilt.close()
