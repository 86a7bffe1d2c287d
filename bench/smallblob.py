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

from bench.load.servers import Nginx, Ocicache
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


def profile(oci: Ocicache, url: str, duration: float, prefix: Path) -> dict:
    raw = prefix.with_suffix(".raw")
    spy = Path(sys.executable).with_name("py-spy")
    rec = subprocess.Popen([str(spy), "record", "--subprocesses", "--nonblocking", "-r", "200", "-f", "raw",
                            "-d", str(int(duration) + 1), "-o", str(raw), "-p", str(oci.node.proc.pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        result = wrk(url, 64, duration)
    finally:
        rec.wait(duration + 30)
    prefix.with_suffix(".txt").write_text(top_frames(raw))
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--profile", type=Path, help="also record one ocicache run with py-spy into this prefix")
    args = p.parse_args()
    data = os.urandom(MIB)
    digest = sha256_digest(data)
    with tempfile.TemporaryDirectory(prefix="ocicache-smallblob-") as work:
        nginx, oci = Nginx(Path(work) / "nginx"), Ocicache(Path(work) / "ocicache")
        try:
            nginx.start()
            oci.start()
            nginx.put_file("/small", data)
            pusher = Pusher(oci.url)
            pusher.push_blob(REPO, data, digest)
            pusher.close()
            urls = {"nginx": f"http://127.0.0.1:{nginx.port_sendfile}/small",
                    "ocicache": f"{oci.url}/v2/{REPO}/blobs/{digest}"}
            wrk(urls["ocicache"], 64, 1)  # warm-up
            runs: dict[str, list[dict]] = {"nginx": [], "ocicache": []}
            for rep in range(args.reps):
                for name in (["nginx", "ocicache"] if rep % 2 == 0 else ["ocicache", "nginx"]):
                    result = wrk(urls[name], 64, args.duration)
                    runs[name].append(result)
                    print(f"rep {rep} {name:9} {result['req/s']:8.0f} req/s  p99 {result['p99 ms']:6.1f} ms"
                          f"  errors {result['errors']}", flush=True)
            med = {name: statistics.median(r["req/s"] for r in rs) for name, rs in runs.items()}
            print(f"median req/s: nginx {med['nginx']:.0f}, ocicache {med['ocicache']:.0f}, "
                  f"ratio {med['ocicache'] / med['nginx']:.2f}x")
            if args.profile:
                result = profile(oci, urls["ocicache"], args.duration, args.profile)
                print(f"profiled run: {result['req/s']:.0f} req/s; top frames in {args.profile}.txt")
        finally:
            oci.stop()
            nginx.stop()


if __name__ == "__main__":
    main()
