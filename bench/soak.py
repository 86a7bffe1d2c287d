"""Soak: mixed push / pull / eviction load against real nodes for a set time, then a report.

    python -m bench.soak --seconds 600 --out bench/results/soak     (or: make soak SOAK_SECONDS=600)

An origin node (local-directory origin) takes the pushes; an edge node in front of it, with a
cache budget far smaller than what gets pushed, takes the pulls, so it fills, evicts and
refills all the time. Every pull is checked byte for byte against what was pushed. At the
end: requests, errors (must be 0), p50/p99 latency per operation, the nodes' RSS and open
descriptors over time (PNG), and `ocicache cache verify` on the edge's store. Exit status 1
if any request failed or verify found anything.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.nodeproc import NodeProcess
from tests.ocisync import OCI_MANIFEST, push_image, request, sha

KiB, MiB = 1024, 1024 * 1024
MAX_BLOBS = 400                      # distinct blobs pushed (about 400 MiB on the origin)
SIZES = (64 * KiB, 256 * KiB, 1 * MiB, 3 * MiB)


def blob_bytes(seed: int) -> bytes:
    """A pushed blob's bytes, regenerated from its seed (the soak does not keep them)."""
    rng = random.Random(seed)
    return rng.randbytes(SIZES[seed % len(SIZES)])


def tree_rss(pid: int) -> int:
    """RSS of a node: its process and its worker processes."""
    total = 0
    pids = [pid]
    try:
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * KiB
        except OSError:
            pass
    return total


def tree_fds(pid: int) -> int:
    pids = [pid]
    try:
        pids += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    return sum(len(os.listdir(f"/proc/{p}/fd")) for p in pids if os.path.exists(f"/proc/{p}"))


class Soak:
    def __init__(self, origin: NodeProcess, edge: NodeProcess, seed: int) -> None:
        self.origin, self.edge = origin, edge
        self.lock = threading.Lock()
        self.blobs: list[tuple[str, int]] = []         # (digest, seed of its bytes) pushed so far
        self.images: list[tuple[str, str, bytes]] = []  # (tag, manifest digest, manifest bytes)
        self.latency: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.seed = seed

    def record(self, op: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latency.setdefault(op, []).append(seconds)
            if error:
                self.errors.append(f"{op}: {error}")

    def step(self, rng: random.Random) -> None:
        roll = rng.random()
        start = time.monotonic()
        error = None
        if roll < 0.10 or len(self.blobs) < 8:
            op = "push_blob"
            # new content until MAX_BLOBS exist (the origin's disk stays bounded), then pushes again
            seed = rng.randrange(1 << 30) if len(self.blobs) < MAX_BLOBS else rng.choice(self.blobs)[1]
            data = blob_bytes(seed)
            status, _, body = request(self.origin.url, "POST", f"/v2/soak/app/blobs/uploads/?digest={sha(data)}",
                                      data, timeout=60)
            if status != 201:
                error = f"{status} {body[:200]!r}"
            elif len(self.blobs) < MAX_BLOBS:
                with self.lock:
                    self.blobs.append((sha(data), seed))
        elif roll < 0.20:
            op = "push_image"
            tag = f"t{rng.randrange(20)}"
            layer = rng.randbytes(256 * KiB)
            digest = push_image(self.origin.url, "soak/img", tag, layer)
            manifest = request(self.origin.url, "GET", f"/v2/soak/img/manifests/{digest}",
                               headers={"Accept": OCI_MANIFEST})[2]
            with self.lock:
                self.images.append((tag, digest, manifest))
        elif roll < 0.30 and self.images:
            op = "pull_manifest"
            tag, digest, manifest = rng.choice(self.images)
            status, _, body = request(self.edge.url, "GET", f"/v2/soak/img/manifests/{digest}",
                                      headers={"Accept": OCI_MANIFEST}, timeout=60)
            if status != 200 or body != manifest:
                error = f"manifest {digest}: {status}, {len(body)} bytes"
        else:
            op = "pull_blob"
            with self.lock:
                # skewed: recent pushes are hot, old ones come back now and then (refills)
                index = len(self.blobs) - 1 - min(int(rng.expovariate(1 / 12)), len(self.blobs) - 1)
                digest, _seed = self.blobs[index]
            status, _, body = request(self.edge.url, "GET", f"/v2/soak/app/blobs/{digest}", timeout=60)
            if status != 200 or hashlib.sha256(body).hexdigest() != digest[7:]:
                error = f"blob {digest}: {status}, {len(body)} bytes"
        self.record(op, time.monotonic() - start, error)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def plot(samples: list[tuple[float, int, int, int, int]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [s[0] for s in samples]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    top.plot(t, [s[1] / MiB for s in samples], label="edge (all workers)")
    top.plot(t, [s[2] / MiB for s in samples], label="origin")
    top.set_ylabel("RSS (MiB)")
    top.legend()
    top.set_title("ocicache soak: RSS and open descriptors over time")
    bottom.plot(t, [s[3] for s in samples], label="edge")
    bottom.plot(t, [s[4] for s in samples], label="origin")
    bottom.set_ylabel("open fds")
    bottom.set_xlabel("seconds")
    bottom.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 600)))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--cache-mib", type=int, default=48, help="edge cache budget (evictions)")
    parser.add_argument("--workers", type=int, default=2, help="edge worker processes")
    parser.add_argument("--out", default="bench/results/soak")
    parser.add_argument("--seed", type=int, default=10)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ocicache-soak-"))
    origin = NodeProcess(work / "origin")
    origin.start()
    edge = NodeProcess(work / "edge", "--origin", origin.url, "--cache-max-bytes", str(args.cache_mib * MiB),
                       "--workers", str(args.workers))
    samples: list[tuple[float, int, int, int, int]] = []
    try:
        edge.start()
        soak = Soak(origin, edge, args.seed)
        stop = threading.Event()
        began = time.monotonic()

        def client(i: int) -> None:
            rng = random.Random(args.seed * 1000 + i)
            while not stop.is_set():
                try:
                    soak.step(rng)
                except Exception as exc:  # a transport error is an error like any other
                    soak.record("exception", 0.0, f"{type(exc).__name__}: {exc}")

        def sampler() -> None:
            while not stop.is_set():
                samples.append((time.monotonic() - began, tree_rss(edge.proc.pid), tree_rss(origin.proc.pid),
                                tree_fds(edge.proc.pid), tree_fds(origin.proc.pid)))
                stop.wait(1.0)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        threads.append(threading.Thread(target=sampler))
        for t in threads:
            t.start()
        next_report = began + 30
        while time.monotonic() - began < args.seconds:
            time.sleep(0.5)
            if time.monotonic() >= next_report:
                next_report += 30
                n = sum(len(v) for v in soak.latency.values())
                print(f"  {time.monotonic() - began:6.0f}s  {n} requests, {len(soak.errors)} errors, "
                      f"edge RSS {samples[-1][1] // MiB} MiB", flush=True)
        stop.set()
        for t in threads:
            t.join()
        time.sleep(1.5)                                  # counters reach the index every second
        node_args = ["--data-dir", str(edge.data_dir), "--origin", origin.url,
                     "--cache-max-bytes", str(args.cache_mib * MiB)]
        verify = subprocess.run([sys.executable, "-m", "ocicache", "cache", "verify", *node_args],
                                capture_output=True, text=True)
        stats = subprocess.run([sys.executable, "-m", "ocicache", "cache", "stats", *node_args],
                               capture_output=True, text=True)
    finally:
        edge.stop()
        origin.stop()
    shutil.rmtree(work, ignore_errors=True)
    plot(samples, out / "rss.png")
    every = [x for v in soak.latency.values() for x in v]
    summary = {
        "seconds": args.seconds, "clients": args.clients, "edge_workers": args.workers,
        "cache_budget_bytes": args.cache_mib * MiB, "requests": len(every), "errors": len(soak.errors),
        "first_errors": soak.errors[:10],
        "latency_ms": {op: {"count": len(v), "p50": round(percentile(v, 0.5) * 1000, 2),
                            "p99": round(percentile(v, 0.99) * 1000, 2)} for op, v in sorted(soak.latency.items())},
        "overall_ms": {"p50": round(percentile(every, 0.5) * 1000, 2), "p99": round(percentile(every, 0.99) * 1000, 2)},
        "edge_rss_mib": {"first": samples[0][1] // MiB, "last": samples[-1][1] // MiB,
                         "max": max(s[1] for s in samples) // MiB},
        "edge_fds": {"first": samples[0][3], "last": samples[-1][3], "max": max(s[3] for s in samples)},
        "distinct_blobs_pushed": len(soak.blobs),
        "verify": {"exit": verify.returncode, "output": verify.stdout.strip()},
        "cache_stats": stats.stdout.strip(),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"plot: {out / 'rss.png'}")
    ok = not soak.errors and verify.returncode == 0
    print("SOAK " + ("CLEAN" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
