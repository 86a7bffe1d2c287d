"""ui/fillboard.py without a node: what the cache page makes of the files workers publish
(one row per digest, the furthest a worker got, every reader and pid; stale files and the
page's own worker's file left out)."""
from __future__ import annotations

import json
import os
import time

from ocicache.ui import fillboard


def fill(digest: str, readable: int, readers: int, pid: int, started: float, size: int | None = 1000,
         error: str | None = None) -> dict:
    return {"digest": digest, "size": size, "readable": readable, "readers": readers, "error": error,
            "started": started, "pids": [pid]}


def test_a_fill_listed_by_its_filler_and_a_follower_is_one_row():
    rows = fillboard.merged([fill("sha256:b", 10, 1, 7, 5.0), fill("sha256:a", 300, 2, 7, 3.0, size=None),
                             fill("sha256:a", 200, 1, 9, 2.0, error="origin answered 500")])
    assert rows == [{"digest": "sha256:a", "size": 1000, "readable": 300, "readers": 3,  # the size one knows
                     "error": "origin answered 500", "started": 2.0, "pids": [7, 9]},
                    fill("sha256:b", 10, 1, 7, 5.0)]


def test_the_other_workers_fresh_files_are_read(tmp_path):
    (tmp_path / "100.json").write_text(json.dumps([fill("sha256:a", 1, 1, 100, 1.0)]))
    (tmp_path / "200.json").write_text(json.dumps([fill("sha256:b", 2, 1, 200, 1.0)]))  # the page's own worker
    (tmp_path / "300.json").write_text(json.dumps([fill("sha256:c", 3, 1, 300, 1.0)]))
    old = time.time() - fillboard.STALE_S - 10
    os.utime(tmp_path / "300.json", (old, old))  # a worker that died mid-fill
    (tmp_path / "400.json").write_text("[{")       # being replaced right now
    assert fillboard.others(tmp_path, 200) == [fill("sha256:a", 1, 1, 100, 1.0)]
