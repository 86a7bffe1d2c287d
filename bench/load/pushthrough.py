"""The push-through workload (issue 15): the same pushes made directly to an origin and through
an edge in front of it, interleaved, in the same run.

Two pairs: an ocicache node (file origin) and an edge whose `--origin` is that node; CNCF
distribution and the benchmark's edge in front of it (`ocicache-edge`). Each repetition pushes,
to every server of a pair in turn (the order rotated each repetition): a fresh blob of
`--push-mib` MiB monolithically (POST, PUT with the body) and in 16 MiB PATCHes, then
`SMALL_IMAGES` small images one after the other (a 1 MiB layer, its config, the manifest by tag).
Every push carries content no server has seen (a stamp in the first bytes), so nothing is
deduplicated; dirty pages are written back (`sync`) before the next push starts. Before the
first repetition each server takes one small image, not measured (connections to the origins
opened, code paths warm).
"""
from __future__ import annotations

import json
import os
import time
from typing import Callable

from .workloads import Pusher, sha256_digest

MIB = 1 << 20
REPO = "bench/push-through"
CHUNK = 16 * MIB
SMALL_IMAGES = 3
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# (origin pushed to directly, the edge in front of it): the servers' names in results.json
PAIRS = [("ocicache", "edge of ocicache"), ("distribution", "edge of distribution")]
SERVERS = [name for pair in PAIRS for name in pair]
BLOB_MONOLITHIC = "push-through blob, monolithic"
BLOB_CHUNKED = "push-through blob, 16 MiB chunks"
SMALL = "push-through small image (1 MiB layer)"
WORKLOADS = [(BLOB_MONOLITHIC, "MB/s"), (BLOB_CHUNKED, "MB/s"), (SMALL, "images/s")]


def _rotated(items: list, rep: int) -> list:
    k = rep % len(items)
    return items[k:] + items[:k]


def _fresh(buf: bytearray, stamp: int) -> str:
    buf[:16] = stamp.to_bytes(16, "big")
    return sha256_digest(buf)


def push_small_image(pusher: Pusher, layer: bytearray, stamp: int) -> None:
    layer_digest = _fresh(layer, stamp)
    config = json.dumps({"architecture": "amd64", "os": "linux", "created": f"stamp {stamp}",
                         "rootfs": {"type": "layers", "diff_ids": [layer_digest]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256_digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                    "size": len(layer)}]}).encode()
    pusher.push_blob(REPO, layer, layer_digest)
    pusher.push_blob(REPO, config, sha256_digest(config))
    pusher.push_manifest(REPO, f"small-{stamp}", manifest, OCI_MANIFEST)


class PushThrough:
    """Runs the workload against `url_of(name)` for every server in SERVERS; `record(workload,
    server, {metric: value})` receives each measurement, `log(line)` a progress line."""

    def __init__(self, url_of: Callable[[str], str], size: int, record, log) -> None:
        self.url_of, self.size, self.record, self.log = url_of, size, record, log
        self.blob = bytearray(os.urandom(size))
        self.layer = bytearray(os.urandom(MIB))
        self.stamp = 1 << 40          # far from the stamps of the other workloads
        self.warmed = False

    def _next(self) -> int:
        self.stamp += 1
        return self.stamp

    def _each(self, rep: int, measure: Callable[[Pusher], float], workload: str, metric: str) -> None:
        for pair in _rotated(PAIRS, rep):
            for name in _rotated(list(pair), rep):
                pusher = Pusher(self.url_of(name))
                try:
                    value = measure(pusher)
                finally:
                    pusher.close()
                self.record(workload, name, {metric: value})
                self.log(f"  {workload:40} {name:22} {value:8.1f} {metric}")
                os.sync()  # the writeback of this push must not land in the next measurement

    def warm_up(self) -> None:
        for name in SERVERS:
            pusher = Pusher(self.url_of(name))
            try:
                push_small_image(pusher, self.layer, self._next())
            finally:
                pusher.close()
        self.warmed = True

    def repetition(self, rep: int) -> None:
        if not self.warmed:
            self.warm_up()
        def blob(chunk: int | None) -> Callable[[Pusher], float]:
            def measure(pusher: Pusher) -> float:
                digest = _fresh(self.blob, self._next())
                return self.size / pusher.push_blob(REPO, self.blob, digest, chunk) / 1e6
            return measure

        def small(pusher: Pusher) -> float:
            start = time.monotonic()
            for _ in range(SMALL_IMAGES):
                push_small_image(pusher, self.layer, self._next())
            return SMALL_IMAGES / (time.monotonic() - start)

        self._each(rep, blob(None), BLOB_MONOLITHIC, "MB/s")
        self._each(rep, blob(CHUNK), BLOB_CHUNKED, "MB/s")
        self._each(rep, small, SMALL, "images/s")
