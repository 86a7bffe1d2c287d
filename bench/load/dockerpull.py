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

Beside each pull's wall time (`s`), dockerd's debug log of that pull gives `registry s`: how long
the engine waited on the registry (`registry_wait`). dockerd registers (copies, with vfs, and
untars) the layers one after the other, each once its download is done and its parent
registered; the time until the first layer is on disk, plus every wait of that chain for a
download, is the proxy's part of the pull. `engine s` is the rest of the chain (until the last
layer is registered): the engine's own work, which no proxy can shorten.
"""
from __future__ import annotations

import datetime
import json
import mmap
import re
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
ENGINE_EVENT = re.compile(r'time="(?P<time>[^"]+)" level=\w+ msg="(?P<msg>[^"]*)')
STAMP = re.compile(r"(?P<base>[\d-]+T[\d:]+)(?:\.(?P<frac>\d+))?(?P<zone>Z|[+-]\d\d:\d\d)")


def image_label(total_bytes: int, layers: int) -> str:
    """'1.13 GB image, 12 layers': what the workload's names say about the image pulled."""
    size = f"{total_bytes / 1e9:.2f} GB" if total_bytes >= 1e9 else f"{total_bytes / 1e6:.0f} MB"
    return f"{size} image, {layers} layers"


def _epoch(stamp: str) -> float | None:
    """Seconds since the epoch of dockerd's RFC 3339 time with nanoseconds; None if it is not one."""
    m = STAMP.fullmatch(stamp)
    if m is None:
        return None
    zone = "+00:00" if m["zone"] == "Z" else m["zone"]
    return datetime.datetime.fromisoformat(m["base"] + zone).timestamp() + float("0." + (m["frac"] or "0"))


def _pull_events(log_text: str) -> tuple[float | None, dict[str, float], list[float]]:
    """(start, {12-digit digest prefix: downloaded}, [each "Applied tar", in order]) of one pull's log."""
    start, downloaded, applied = None, {}, []
    for line in log_text.splitlines():
        m = ENGINE_EVENT.match(line)
        when = _epoch(m["time"]) if m else None
        if when is None:
            continue
        msg = m["msg"]
        if start is None and msg.startswith("Calling POST") and "/images/create" in msg:
            start = when
        elif msg.startswith("Downloaded "):
            downloaded[msg.split()[1]] = when
        elif msg.startswith("Applied tar "):
            applied.append(when)
    return start, downloaded, applied


def registry_wait(log_text: str, layers: list[str]) -> tuple[float, float] | None:
    """(registry s, engine s) of one pull from dockerd's debug log of it, `layers` the image's
    layer digests in the manifest's order: the time from `POST /images/create` until the first
    layer was downloaded, plus, for each later layer, how long after its parent was registered
    ("Applied tar") its download still ran; and the rest of the time until the last layer was
    registered. None when the log does not show every layer downloaded and registered (another
    dockerd, a layer the engine already had)."""
    start, downloaded, applied = _pull_events(log_text)
    short = [digest.split(":", 1)[-1][:12] for digest in layers]
    if start is None or not short or len(applied) != len(short) or any(d not in downloaded for d in short):
        return None
    wait = downloaded[short[0]] - start
    for parent_done, digest in zip(applied, short[1:]):
        wait += max(0.0, downloaded[digest] - parent_done)
    return wait, applied[-1] - start - wait


def shape(total_mb: int) -> Shape:
    scale = total_mb / (sum(BASE_SHAPE.layers) / MB)
    return Shape(f"docker-pull-{total_mb}mb", tuple(max(1, int(size * scale)) for size in BASE_SHAPE.layers))


class DockerPull:
    """Starts its dockerd and two proxies in front of `origin` (a started Distribution), pushes
    the image there; `record(workload, server, {"s": seconds})` receives each pull's time."""

    def __init__(self, work: Path, total_mb: int, origin: Distribution, record, log: Callable[[str], None]) -> None:
        self.work, self.origin, self.record, self.log = work, origin, record, log
        self.total_mb = total_mb
        self.engine = DockerEngine(daemon={"debug": True})   # its log times each layer (registry_wait)
        self.proxies = {"distribution-proxy": Distribution(work / "distribution-proxy", remote=origin.url),
                        "ocicache-edge": Ocicache(work / "edge", "--origin", origin.url,
                                                  "--cache-max-bytes", str(64 << 30))}
        self.label = ""
        self.layers: list[str] = []
        self.started: list = []

    def start(self) -> None:
        self.log(f"docker-pull: generating the image ({self.total_mb} MB) and pushing it to distribution")
        layout = build(shape(self.total_mb), self.work / "layout")
        image = layout.image()
        self.label = image_label(layout.total_bytes, len(image.layers))
        self.layers = [str(layer.digest) for layer in image.layers]
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

    def _pull(self, name: str) -> dict[str, float]:
        """{"s": wall time, "registry s", "engine s"} (the last two when dockerd's log shows them)."""
        ref = f"{self.proxies[name].url.split('://', 1)[1]}/{REPO}:latest"
        self.engine.clean_images()
        offset = self.engine.log_path.stat().st_size
        start = time.monotonic()
        self.engine.run("pull", ref)
        values = {"s": time.monotonic() - start}
        with open(self.engine.log_path, "rb") as fh:
            fh.seek(offset)
            parts = registry_wait(fh.read().decode(errors="replace"), self.layers)
        if parts is not None:
            values["registry s"], values["engine s"] = parts
        return values

    def repetition(self, rep: int) -> None:
        k = rep % len(SERVERS)
        for name in SERVERS[k:] + SERVERS[:k]:
            self.proxies[name].restart_empty()
            for workload in (COLD, WARM):
                values = self._pull(name)
                self.record(workload.format(image=self.label), name, values)
                parts = (f"  (registry {values['registry s']:.2f} s, engine {values['engine s']:.1f} s)"
                         if "registry s" in values else "")
                self.log(f"  {workload.format(image=self.label):44} {name:20} {values['s']:6.1f} s{parts}")
        self.engine.clean_images()
