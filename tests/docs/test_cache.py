"""docs/CACHE.md, run as written: an edge in front of an origin node (`origin.internal:5000` is a
local node), a pull through it, then the cache commands by `--data-dir` and by `--config`."""
from __future__ import annotations

import os

from ..nodeproc import NodeProcess, free_port
from ..ocisync import push_image
from .conftest import access_lines, pull
from .shell import DocShell

SERVE = ("ocicache serve --listen 0.0.0.0:5000 --origin http://origin.internal:5000 --data-dir "
         "/var/cache/ocicache --cache-max-bytes 500000000000")


def test_cache_md(tmp_path):
    origin = NodeProcess(tmp_path / "origin")
    origin.start()
    port = free_port()
    store = tmp_path / "var-cache"
    etc = tmp_path / "etc"
    etc.mkdir()
    sh = DocShell("CACHE.md", tmp_path, subs=[("0.0.0.0:5000", f"127.0.0.1:{port}"),
                                              ("origin.internal:5000", origin.hostport),
                                              ("/var/cache/ocicache", str(store)), ("/etc/ocicache", str(etc))])
    try:
        push_image(origin.url, "team/app", "v1", os.urandom(300_000))
        edge = sh.start(SERVE, f"http://127.0.0.1:{port}/v2/")
        url = f"http://127.0.0.1:{port}"
        digests = pull(url, "team/app", "v1")
        pull(url, "team/app", "v1")
        lines = access_lines(lambda: sh.log_of(edge, tail=None), at_least=6)
        assert [x["cache"] for x in lines] == ["miss"] * 3 + ["hit"] * 3, lines   # "What happens on a pull"

        stats = sh.run("ocicache cache stats --data-dir /var/cache/ocicache").stdout
        assert "entries    3" in stats and "500000000000 bytes" in stats, stats   # config, layer, manifest
        assert "the node's, when it last started" in stats, stats
        prune = sh.run("ocicache cache prune --data-dir /var/cache/ocicache --to 400000000000").stdout
        assert prune.startswith("evicted 0 blobs"), prune
        verify = sh.run("ocicache cache verify --data-dir /var/cache/ocicache").stdout
        assert "verified 3 blobs" in verify and "0 corrupt" in verify, verify
        layer = store / "cache/blobs/sha256" / digests[1][7:9] / digests[1][7:]
        layer.write_bytes(b"rot" + layer.read_bytes()[3:])
        corrupt = sh.run("ocicache cache verify --data-dir /var/cache/ocicache", status=1).stdout   # "(exit 1)"
        assert f"CORRUPT {digests[1]}" in corrupt, corrupt
        pull(url, "team/app", "v1")                                   # fetched again, right bytes

        shipped = (sh.cwd / "deploy/ocicache.toml").read_text()
        (etc / "ocicache.toml").write_text(shipped.replace('"/var/lib/ocicache"', f'"{store}"')
                                           .replace('"/var/cache/ocicache"', f'"{store / "cache"}"'))
        by_config = sh.run("ocicache cache stats --config /etc/ocicache/ocicache.toml").stdout
        assert f"cache {store / 'cache'}" in by_config and "500000000000 bytes" in by_config, by_config
        assert "[cache] max_bytes of" in by_config and "entries    3" in by_config, by_config
    finally:
        sh.close()
        origin.stop()
