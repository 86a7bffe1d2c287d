"""skopeo inside a client namespace: pushes to a regional node, pulls by the registry's DNS name
(resolved by the namespace's resolv.conf: the fleet's GeoDNS), every pulled blob rehashed.

    attempt = pull(fabric, ns, "fleet/app:v1", dest, layout)    # never raises; attempt.ok
    loop = PullLoop(fabric, ns, "fleet/app:v1", layout, workdir) # pulls until stop(), retrying
"""
from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..clients.images import Layout
from ..clients.verify import rehash_blobs, tagged_digest
from .netns import Fabric
from .topology import NAME, PORT

PULL_TIMEOUT = 120.0


@dataclass
class Attempt:
    client: str
    start: float
    end: float = 0.0
    ok: bool = False
    error: str = ""
    wrong: list[str] = field(default_factory=list)   # bytes that did not match their digest

    @property
    def seconds(self) -> float:
        return self.end - self.start


def skopeo(fabric: Fabric, ns: str, *args: str, timeout: float = PULL_TIMEOUT) -> subprocess.CompletedProcess:
    return subprocess.run(fabric.argv(ns, "skopeo", *args), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def push(fabric: Fabric, ns: str, layout: Layout, registry: str, repo: str) -> None:
    """`skopeo copy` of a layout to a node (edges refuse pushes: this is a regional node)."""
    done = skopeo(fabric, ns, "copy", "--dest-tls-verify=false", layout.ref, f"docker://{registry}:{PORT}/{repo}")
    if done.returncode != 0:
        raise AssertionError(f"push of {repo} to {registry} failed: {done.stderr.strip()[-1500:]}")


def problems(dest: Path, layout: Layout | None, complete: bool) -> list[str]:
    """What is wrong with a pulled layout: any blob whose bytes do not hash to its name, and
    (`complete`) a top-level digest other than the source's."""
    out = []
    blobs = dest / "blobs" / "sha256"
    if blobs.is_dir():
        out += [f"{name}: content hashes to {actual}" for name, actual in rehash_blobs(blobs).items()]
    if complete and layout is not None:
        got = tagged_digest(dest, "latest")
        if got != layout.manifest_digest:
            out.append(f"tagged manifest {got}, expected {layout.manifest_digest}")
        have = {"sha256:" + p.name for p in blobs.iterdir()}
        if missing := (layout.manifest_digests | layout.blob_digests) - have:
            out.append(f"blobs missing after a successful pull: {sorted(missing)}")
    return out


def message(stderr: str) -> str:
    """skopeo's last error line without its logfmt wrapping (time=... level=fatal msg="...")."""
    last = (stderr.strip().splitlines() or ["(no output)"])[-1]
    match = re.search(r'msg="((?:[^"\\]|\\.)*)"', last)
    return (match.group(1).replace('\\"', '"') if match else last)[:500]


def pull(fabric: Fabric, ns: str, ref: str, dest: Path, layout: Layout | None, host: str = NAME) -> Attempt:
    """One pull of docker://<host>:5000/<ref> into a fresh OCI layout at `dest` (removed after
    its blobs were rehashed, success or not)."""
    shutil.rmtree(dest, ignore_errors=True)
    attempt = Attempt(ns, time.time())
    try:
        done = skopeo(fabric, ns, "copy", "--src-tls-verify=false", f"docker://{host}:{PORT}/{ref}",
                      f"oci:{dest}:latest")
        attempt.ok = done.returncode == 0
        attempt.error = "" if attempt.ok else message(done.stderr)
    except subprocess.TimeoutExpired:
        attempt.error = f"skopeo did not finish in {PULL_TIMEOUT:.0f} s"
    attempt.end = time.time()
    attempt.wrong = problems(dest, layout, attempt.ok)
    shutil.rmtree(dest, ignore_errors=True)
    return attempt


class PullLoop(threading.Thread):
    """Pulls `ref` from namespace `ns` again and again until `stop()`; a failed pull is retried
    at once (up to `retries` times). `attempts`: every pull; `current`: the one running now."""

    def __init__(self, fabric: Fabric, ns: str, ref: str, layout: Layout, workdir: Path, retries: int = 4) -> None:
        super().__init__(name=f"pull-{ns}", daemon=True)
        self.fabric, self.ns, self.ref, self.layout = fabric, ns, ref, layout
        self.dest = Path(workdir) / f"pull-{ns}"
        self.retries = retries
        self.attempts: list[Attempt] = []
        self.unrecovered: list[Attempt] = []     # failures whose retries failed too
        self.current_start: float | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            for _ in range(1 + self.retries):
                self.current_start = time.time()
                attempt = pull(self.fabric, self.ns, self.ref, self.dest, self.layout)
                self.current_start = None
                self.attempts.append(attempt)
                if attempt.ok:
                    break
                time.sleep(0.2)
            else:
                self.unrecovered.append(attempt)

    def stop(self) -> None:
        self._halt.set()
        self.join(PULL_TIMEOUT * (2 + self.retries))
