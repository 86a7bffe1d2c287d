"""The docker-pull workload (issue 18): wall time of `docker pull` by a real Docker engine of a
generated image, through an ocicache edge and through distribution's proxy, cold and warm, in
the same run.

The image is the `1130mb` shape of tests/clients/images.py (1.13 GB in 12 layers, growing from
0.5 MB to 450 MB), scaled to `--docker-mb`; it is pushed once into the benchmark's
distribution instance, which both proxies have as their origin. The engine is a private
dockerd (tests/dockerd.py: its own data root, vfs storage). Each repetition, for each proxy in
turn (order rotated): cold = the proxy restarted with an empty store and every image removed
from the engine, then `docker pull`; warm = every image removed again, the proxy keeps what it
stored, `docker pull` again. The two proxies are this workload's own (not the ones the other
workloads use), so emptying them changes nothing elsewhere.
"""
from __future__ import annotations

import json
import mmap
import time
from pathlib import Path
from typing import Callable

from tests.clients.images import MB, SHAPES, Shape, build
from tests.dockerd import DockerEngine

from .servers import Distribution, Ocicache
from .workloads import Pusher

REPO = "bench/docker"
BASE_SHAPE = SHAPES["1130mb"]
SERVERS = ["distribution-proxy", "ocicache-edge"]
COLD = "docker pull {image}, cold"
WARM = "docker pull {image}, warm"


def image_label(total_bytes: int, layers: int) -> str:
    """'1.13 GB image, 12 layers': what the workload's names say about the image pulled."""
    size = f"{total_bytes / 1e9:.2f} GB" if total_bytes >= 1e9 else f"{total_bytes / 1e6:.0f} MB"
    return f"{size} image, {layers} layers"


def shape(total_mb: int) -> Shape:
    scale = total_mb / (sum(BASE_SHAPE.layers) / MB)
    return Shape(f"docker-pull-{total_mb}mb", tuple(max(1, int(size * scale)) for size in BASE_SHAPE.layers))


class DockerPull:
    """Starts its dockerd and two proxies in front of `origin` (a started Distribution), pushes
    the image there; `record(workload, server, {"s": seconds})` receives each pull's time."""

    def __init__(self, work: Path, total_mb: int, origin: Distribution, record, log: Callable[[str], None]) -> None:
        self.work, self.origin, self.record, self.log = work, origin, record, log
        self.total_mb = total_mb
        self.engine = DockerEngine()
        self.proxies = {"distribution-proxy": Distribution(work / "distribution-proxy", remote=origin.url),
                        "ocicache-edge": Ocicache(work / "edge", "--origin", origin.url,
                                                  "--cache-max-bytes", str(64 << 30))}
        self.label = ""
        self.started: list = []

    def start(self) -> None:
        self.log(f"docker-pull: generating the image ({self.total_mb} MB) and pushing it to distribution")
        layout = build(shape(self.total_mb), self.work / "layout")
        image = layout.image()
        self.label = image_label(layout.total_bytes, len(image.layers))
        pusher = Pusher(self.origin.url)
        try:
            for digest in [image.config_digest, *(layer.digest for layer in image.layers)]:
                with open(layout.blob_path(digest), "rb") as fh, \
                        mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
                    pusher.push_blob(REPO, data, digest)
            manifest = layout.blob_path(image.digest).read_bytes()
            pusher.push_manifest(REPO, "latest", manifest, json.loads(manifest)["mediaType"])
        finally:
            pusher.close()
        for server in self.proxies.values():
            self.started.append(server)
            server.start()
        self.started.append(self.engine)
        self.engine.start()

    def stop(self) -> None:
        errors = []
        for server in reversed(self.started):
            try:
                server.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(f"{type(server).__name__}: {exc}")
        if errors:
            raise RuntimeError("docker-pull: stopping " + "; ".join(errors) + " failed")

    def _pull(self, name: str) -> float:
        ref = f"{self.proxies[name].url.split('://', 1)[1]}/{REPO}:latest"
        self.engine.clean_images()
        start = time.monotonic()
        self.engine.run("pull", ref)
        return time.monotonic() - start

    def repetition(self, rep: int) -> None:
        k = rep % len(SERVERS)
        for name in SERVERS[k:] + SERVERS[:k]:
            self.proxies[name].restart_empty()
            for workload in (COLD, WARM):
                seconds = self._pull(name)
                self.record(workload.format(image=self.label), name, {"s": seconds})
                self.log(f"  {workload.format(image=self.label):44} {name:20} {seconds:6.1f} s")
        self.engine.clean_images()
