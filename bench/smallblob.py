"""The small-blob workload alone: a 1 MiB blob GET with 64 connections, ocicache against nginx.

    .venv/bin/python -m bench.smallblob [--reps 3] [--duration 5] [--profile OUT_PREFIX]

Starts nginx (sendfile on, tcp_nopush on) and an ocicache node (one worker per core) on
loopback with the same 1 MiB file, runs `wrk -c64` against each in turn (order alternating),
and prints every repetition and the ratio of medians. With --profile, one more ocicache run
is recorded with py-spy (every worker) into OUT_PREFIX.raw (collapsed stacks) and its top
frames into OUT_PREFIX.txt. Stops every process it started. The full benchmark is
`make bench-load` (bench/load/run.py); this is the quick loop for docs/PERFORMANCE.md's
"The small-blob path" section.
"""
from __future__ import annotations

import argparse
import collections
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.load.servers import Nginx, Ocicache, tree_cpu_seconds
from bench.load.workloads import Pusher, sha256_digest, wrk

REPO = "bench/small"
MIB = 1 << 20


def top_frames(raw: Path, limit: int = 25) -> str:
    """Self and inclusive sample shares of the hottest frames in py-spy's collapsed output."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"samples: {total}", "", "self %  frame"]
    lines += [f"{100 * n / total:6.1f}  {frame}" for frame, n in own.most_common(limit)]
    lines += ["", "incl %  frame"]
    lines += [f"{100 * n / total:6.1f}  {frame}" for frame, n in inclusive.most_common(limit)]
    return "\n".join(lines) + "\n"


def measured(pid: int, url: str, duration: float, headers: dict[str, str] | None = None) -> dict:
    """One `wrk -c64` run of `url`, with the CPU time the process tree of `pid` spent per request."""
    cpu = tree_cpu_seconds(pid)
    result = wrk(url, 64, duration, headers)
    result["cpu us/req"] = (tree_cpu_seconds(pid) - cpu) * 1e6 / max(1, result["requests"])
    return result


def profile(pid: int, url: str, duration: float, prefix: Path, headers: dict[str, str] | None = None,
            frames: int = 25) -> dict:
    """One `wrk -c64` run of `url` while py-spy records every process of `pid`'s tree into
    PREFIX.raw; its top `frames` frames go to PREFIX.txt."""
    raw = prefix.with_suffix(".raw")
    spy = Path(sys.executable).with_name("py-spy")
    rec = subprocess.Popen([str(spy), "record", "--subprocesses", "--nonblocking", "-r", "200", "-f", "raw",
                            "-d", str(int(duration) + 1), "-o", str(raw), "-p", str(pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        result = wrk(url, 64, duration, headers)
    finally:
        rec.wait(duration + 30)
    prefix.with_suffix(".txt").write_text(top_frames(raw, frames))
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--profile", type=Path, help="also record one ocicache run with py-spy into this prefix")
    p.add_argument("--variant", action="append", default=[], metavar="KEY=VALUE",
                   help="also measure a second ocicache node started with this environment (A/B)")
    args = p.parse_args()
    data = os.urandom(MIB)
    digest = sha256_digest(data)
    with tempfile.TemporaryDirectory(prefix="ocicache-smallblob-") as work:
        nginx, oci = Nginx(Path(work) / "nginx"), Ocicache(Path(work) / "ocicache")
        variant_env = dict(kv.split("=", 1) for kv in args.variant)
        variant = Ocicache(Path(work) / "variant", env=variant_env) if variant_env else None
        try:
            nginx.start()
            nginx.put_file("/small", data)
            urls = {"nginx": f"http://127.0.0.1:{nginx.port_sendfile}/small"}
            pids = {"nginx": nginx.proc.pid}
            for name, node in (("ocicache", oci), ("variant", variant)):
                if node is None:
                    continue
                node.start()
                pusher = Pusher(node.url)
                pusher.push_blob(REPO, data, digest)
                pusher.close()
                urls[name] = f"{node.url}/v2/{REPO}/blobs/{digest}"
                pids[name] = node.node.proc.pid
                wrk(urls[name], 64, 1)  # warm-up
            runs: dict[str, list[dict]] = {name: [] for name in urls}
            for rep in range(args.reps):
                names = list(urls)
                for name in names[rep % len(names):] + names[:rep % len(names)]:
                    result = measured(pids[name], urls[name], args.duration)
                    runs[name].append(result)
                    print(f"rep {rep} {name:9} {result['req/s']:8.0f} req/s  p99 {result['p99 ms']:6.1f} ms"
                          f"  server CPU {result['cpu us/req']:6.0f} us/req  errors {result['errors']}", flush=True)
            for key in ("req/s", "cpu us/req"):
                med = {name: statistics.median(r[key] for r in rs) for name, rs in runs.items()}
                print(f"median {key}: " + ", ".join(f"{name} {med[name]:.0f} ({med[name] / med['nginx']:.2f}x nginx)"
                                                    for name in med))
            if args.profile:
                result = profile(pids["ocicache"], urls["ocicache"], args.duration, args.profile)
                print(f"profiled run: {result['req/s']:.0f} req/s; top frames in {args.profile}.txt")
        finally:
            for node in (variant, oci):
                if node is not None:
                    node.stop()
            nginx.stop()


if __name__ == "__main__":
    main()
