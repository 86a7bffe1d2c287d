"""The cache disk fills up (a 16 MiB tmpfs mounted as the edge's cache folder): pulls still
succeed, streamed from the origin and verified but not kept; the node logs and counts it
(`ocicache_cache_disk_full_total`) and caches again once space returns."""
from __future__ import annotations

import os
import subprocess
import threading

import pytest

from ..ocisync import push_blob
from .probes import cached_files, metric, partial_files, settle
from .pulls import MiB, pull


@pytest.fixture
def small_cache_disk(tmp_path):
    """tmp_path/edge/cache as a 16 MiB tmpfs (the edge of `make_edge(name="edge")`)."""
    mountpoint = tmp_path / "edge" / "cache"
    mountpoint.mkdir(parents=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mountpoint)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs for the disk-full scenario: {done.stderr.strip()}")
        pytest.skip(f"mounting a tmpfs needs root (CAP_SYS_ADMIN): {done.stderr.strip()}")
    yield mountpoint
    if subprocess.run(["umount", str(mountpoint)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(mountpoint)], check=True)  # a node still held it


def free_bytes(path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def leave_free(mountpoint, nbytes: int):
    """Fill the disk with a ballast file until about `nbytes` are free; returns its path."""
    ballast = mountpoint / "ballast"
    with open(ballast, "ab") as fh:
        fh.write(b"\0" * max(free_bytes(mountpoint) - nbytes, 0))
    return ballast


def test_disk_full_pulls_stream_uncached_then_cache_again(origin, proxy, small_cache_disk, make_edge):
    blobs = [os.urandom(6 * MiB) for _ in range(2)]
    digests = [push_blob(origin.url, "faults/full", b) for b in blobs]
    edge = make_edge(name="edge")
    assert edge.data_dir / "cache" == small_cache_disk
    ballast = leave_free(small_cache_disk, 3 * MiB)

    # 1. no room for the blob at all: streamed from the origin, verified, not kept
    p = pull(edge.url, f"/v2/faults/full/blobs/{digests[0]}")
    assert p.status == 200 and p.complete and p.body == blobs[0]
    assert cached_files(edge) == [] and partial_files(edge) == []
    assert metric(edge, "ocicache_cache_disk_full_total") == 1.0

    # 2. the disk fills up during a fill: that fill stops (ENOSPC), its partial file goes, and
    #    its client gets the rest from the origin, still verified
    ballast.unlink()
    proxy.throttle_bps = 6 * MiB                     # the fill takes about a second
    results: list = []
    reader = threading.Thread(target=lambda: results.append(pull(edge.url, f"/v2/faults/full/blobs/{digests[1]}")))
    reader.start()
    partial = small_cache_disk / "partial" / digests[1][7:]
    assert settle(lambda: partial.exists() and partial.stat().st_size >= MiB, True)
    ballast = leave_free(small_cache_disk, 2 * MiB)
    reader.join()
    assert results[0].complete and results[0].body == blobs[1], results[0].error
    assert cached_files(edge) == []
    assert settle(lambda: partial_files(edge), []) == []
    assert metric(edge, "ocicache_cache_disk_full_total") == 2.0
    assert "cache disk full" in edge.log_path.read_text()

    # 3. space returns: the next pulls are cached again
    proxy.throttle_bps = None
    (small_cache_disk / "ballast").unlink()
    for i in (0, 1):
        p = pull(edge.url, f"/v2/faults/full/blobs/{digests[i]}")
        assert p.complete and p.body == blobs[i]
    assert cached_files(edge) == sorted([digests[0][7:], digests[1][7:]])
    assert metric(edge, "ocicache_cache_disk_full_total") == 2.0
    assert settle(lambda: partial_files(edge), []) == []
