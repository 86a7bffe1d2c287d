"""The edge's manifest by digest alone: req/s and the edge's CPU per request, optionally profiled.

    .venv/bin/python -m bench.edge_manifest [--reps 3] [--duration 4] [--profile OUT_PREFIX]

Starts an ocicache node with one small image and an edge in front of it (`--origin`, one
worker per core each) on loopback, warms the edge with one wrk run, then runs `wrk -c64` for
the manifest by digest `--reps` times and prints req/s, p99 and the edge's CPU time per
request (parent and workers, from /proc), which a machine shared with other work inflates less
than it inflates req/s. With --profile, one more run is recorded with py-spy (every process of
the edge) into OUT_PREFIX.raw and its top frames into OUT_PREFIX.txt. Stops every process it
started. The full benchmark is `make bench-load`; this is the quick loop behind
docs/PERFORMANCE.md's "The access log line".
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench.load.servers import Ocicache
from bench.load.workloads import MANIFEST_ACCEPT, wrk
from bench.smallblob import measured, profile
from tests.ocisync import push_image

REPO = "bench/manifest"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--duration", type=float, default=4.0)
    p.add_argument("--profile", type=Path, help="also record one run with py-spy into this prefix")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="ocicache-edge-manifest-") as work:
        node, edge = Ocicache(Path(work) / "node"), None
        try:
            node.start()
            digest = push_image(node.url, REPO, "v1", os.urandom(1000))  # a 1 kB layer
            edge = Ocicache(Path(work) / "edge", "--origin", node.url)
            edge.start()
            url = f"{edge.url}/v2/{REPO}/manifests/{digest}"
            wrk(url, 64, 1, {"Accept": MANIFEST_ACCEPT})  # warm-up: the manifest is in the edge's memory
            for rep in range(args.reps):
                r = measured(edge.pid(), url, args.duration, {"Accept": MANIFEST_ACCEPT})
                print(f"rep {rep}: {r['req/s']:.0f} req/s  p99 {r['p99 ms']:.1f} ms  edge CPU "
                      f"{r['cpu us/req']:.0f} us/req  errors {r['errors']}", flush=True)
            if args.profile:
                r = profile(edge.pid(), url, args.duration, args.profile, {"Accept": MANIFEST_ACCEPT}, frames=40)
                print(f"profiled run: {r['req/s']:.0f} req/s; top frames in {args.profile}.txt")
        finally:
            if edge is not None:
                edge.stop()
            node.stop()


if __name__ == "__main__":
    main()
