"""The push-through workload (issue 15): the same pushes made directly to an origin and through
an edge in front of it, interleaved, in the same run.

Two groups: an ocicache node (file origin) with an edge whose `--origin` is that node, and CNCF
distribution with the benchmark's edge in front of it (`ocicache-edge`); in front of each origin
also two relays that stream each request through and keep nothing: nginx (servers.NginxRelay,
what a hop costs on this machine) and a bare relay on ocicache's own stack, aiohttp on uvloop
(aiorelay.py: what a hop costs on that stack). They are the floors under any edge. Each
repetition pushes, to every server of a group in turn (the order rotated each repetition): a fresh blob of
`--push-mib` MiB monolithically (POST, PUT with the body) and in 16 MiB PATCHes, then
`SMALL_IMAGES` small images one after the other (a 1 MiB layer, its config, the manifest by tag).
Every push carries content no server has seen (a stamp in the first bytes), so nothing is
deduplicated; dirty pages are written back (`sync`) before the next push starts. Before the
first repetition each server takes one small image, not measured (connections to the origins
opened, code paths warm).

With `pids_of`, each measurement also records the CPU that the push cost, per push (per image for
small images), over the same window as its time: the origin's processes ("origin CPU ms"), the
edge's ("edge CPU ms", 0 when pushing directly) and this client's ("client CPU ms"), beside the
push's wall time ("wall ms"). The client, the edge and the origin share the machine's cores, so
these figures bound what the edge can reach here (report.py's CPU table).
"""
from __future__ import annotations

import json
import os
import time
from typing import Callable

from .servers import tree_thread_cpu_seconds
from .workloads import Pusher, sha256_digest

MIB = 1 << 20
REPO = "bench/push-through"
CHUNK = 16 * MIB
SMALL_IMAGES = 20             # per measurement: a few milliseconds each, so one hiccup weighs little
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ORIGINS = ["ocicache", "distribution"]
RELAY_KINDS = ["nginx", "aiohttp relay"]
# (origin pushed to directly, the edge in front of it): names in results.json
PAIRS = [(origin, f"edge of {origin}") for origin in ORIGINS]
# the relays in front of each origin, by kind (servers.NginxRelay, servers.AioRelay)
RELAYS = {origin: {kind: f"{kind} in front of {origin}" for kind in RELAY_KINDS} for origin in ORIGINS}
GROUPS = [(origin, edge, *RELAYS[origin].values()) for origin, edge in PAIRS]
SERVERS = [name for group in GROUPS for name in group]
BLOB_MONOLITHIC = "push-through blob, monolithic"
BLOB_CHUNKED = "push-through blob, 16 MiB chunks"
SMALL = "push-through small image (1 MiB layer)"
WORKLOADS = [(BLOB_MONOLITHIC, "MB/s"), (BLOB_CHUNKED, "MB/s"), (SMALL, "images/s")]
CPU_METRICS = ["origin CPU ms", "edge CPU ms", "client CPU ms", "wall ms"]


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
    server, {metric: value})` receives each measurement, `log(line)` a progress line.
    `pids_of(name)`, when given, is (the origin's PID, the edge's or the relay's PID, or None)
    for a server."""

    def __init__(self, url_of: Callable[[str], str], size: int, record, log,
                 pids_of: Callable[[str], tuple[int, int | None]] | None = None) -> None:
        self.url_of, self.size, self.record, self.log, self.pids_of = url_of, size, record, log, pids_of
        self.blob = bytearray(os.urandom(size))
        self.layer = bytearray(os.urandom(MIB))
        self.stamp = 1 << 40          # far from the stamps of the other workloads
        self.warmed = False

    def _next(self) -> int:
        self.stamp += 1
        return self.stamp

    def _cpu(self, name: str) -> tuple[float, float, float]:
        """CPU seconds so far: the origin's processes, the edge's (0 without one), this process."""
        origin, edge = self.pids_of(name)
        return tree_thread_cpu_seconds(origin), tree_thread_cpu_seconds(edge) if edge else 0.0, time.process_time()

    def _metered(self, name: str, push: Callable[[Pusher], tuple[float, int]], pusher: Pusher) -> dict[str, float]:
        """Run `push` (which returns its value and how many pushes it made); its value and, with
        `pids_of`, the CPU and wall milliseconds per push of the same window."""
        if self.pids_of is None:
            return {"value": push(pusher)[0]}
        before, start = self._cpu(name), time.monotonic()
        value, pushes = push(pusher)
        wall, after = time.monotonic() - start, self._cpu(name)
        used = [(a - b) * 1000 / pushes for a, b in zip(after, before)]
        return {"value": value, **dict(zip(CPU_METRICS, [*used, wall * 1000 / pushes]))}

    def _each(self, rep: int, prepare: Callable[[], Callable[[Pusher], tuple[float, int]]],
              workload: str, metric: str) -> None:
        for group in _rotated(GROUPS, rep):
            for name in _rotated(list(group), rep):
                push = prepare()  # fresh content, hashed before the measured window
                pusher = Pusher(self.url_of(name))
                try:
                    measured = self._metered(name, push, pusher)
                finally:
                    pusher.close()
                value = measured.pop("value")
                self.record(workload, name, {metric: value, **measured})
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

        def blob(chunk: int | None) -> Callable[[], Callable[[Pusher], tuple[float, int]]]:
            def prepare() -> Callable[[Pusher], tuple[float, int]]:
                digest = _fresh(self.blob, self._next())
                return lambda pusher: (self.size / pusher.push_blob(REPO, self.blob, digest, chunk) / 1e6, 1)
            return prepare

        def small() -> Callable[[Pusher], tuple[float, int]]:
            def push(pusher: Pusher) -> tuple[float, int]:
                start = time.monotonic()
                for _ in range(SMALL_IMAGES):
                    push_small_image(pusher, self.layer, self._next())
                return SMALL_IMAGES / (time.monotonic() - start), SMALL_IMAGES
            return push

        self._each(rep, blob(None), BLOB_MONOLITHIC, "MB/s")
        self._each(rep, blob(CHUNK), BLOB_CHUNKED, "MB/s")
        self._each(rep, small, SMALL, "images/s")
