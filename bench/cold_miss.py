"""Cold misses through a pull-through cache (issue 18): a fresh 256 MiB blob fetched once through

- an ocicache edge in front of CNCF distribution (`edge of distribution`),
- an ocicache edge in front of an ocicache node (`edge of ocicache`),
- CNCF distribution's own pull-through proxy in front of the same distribution (`distribution-proxy`),

by 1 client (curl) and by 8 at once, repetitions interleaved with the order rotated. For each
GET: time to first byte and total time, the CPU time the cache's processes spent on it, and the
requests its origin logged for that digest (HEAD and GET, read from the origin's access log).
Then one cold HEAD per cache (what a client asking "is it there?" costs). Writes the raw results
as JSON (every repetition).

    .venv/bin/python -m bench.cold_miss [--reps 3] [--mib 256] [--out docs/performance/cold-miss.json]
        [--variant before=/path/to/an/older/checkout]

`--variant NAME=DIR` adds an edge of distribution running the ocicache package of DIR (an older
checkout: PYTHONPATH=DIR, PYTHONSAFEPATH=1), measured in the same run as the others: a before/after
comparison made in the same conditions.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.load.run import code_version, machine
from bench.load.servers import Distribution, Ocicache, tree_cpu_seconds
from bench.load.workloads import Pusher, concurrent_gets, sha256_digest

MIB = 1 << 20
REPO = "bench/cold"
CACHES = ["distribution-proxy", "edge of distribution", "edge of ocicache"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def origin_requests(path: Path, offset: int, hex_digest: str) -> dict[str, int]:
    """HEAD and GET lines for the digest in an access log after byte `offset`: distribution's
    combined format (`"GET /v2/... HTTP/1.1" 200`) and ocicache's (`GET /v2/... 200`)."""
    pattern = re.compile(r'"?(GET|HEAD) /v2/\S*' + hex_digest + r'\S* (?:HTTP/1\.1"|\d{3}\b)')
    with open(path, "rb") as fh:
        fh.seek(offset)
        text = fh.read().decode(errors="replace")
    counts = {"HEAD": 0, "GET": 0}
    for line in text.splitlines():
        match = pattern.search(line)
        if match:
            counts[match.group(1)] += 1
    return counts


def cold_head(url: str) -> int:
    out = subprocess.run(["curl", "-s", "-I", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "60", url],
                         capture_output=True, text=True, check=True, timeout=90)
    return int(out.stdout)


class ColdBench:
    def __init__(self, work: Path, size: int, variants: dict[str, str] | None = None) -> None:
        self.size = size
        self.variants = variants or {}
        self.caches = CACHES + [f"edge of distribution, {name}" for name in self.variants]
        self.dist = Distribution(work / "distribution")
        self.oci = Ocicache(work / "ocicache")
        self.dproxy: Distribution | None = None
        self.edges: dict[str, Ocicache] = {}
        self.work = work
        self.started: list = []
        self.buf = bytearray(os.urandom(size))
        self.stamp = 0
        self.results: dict[str, dict[str, list]] = {}

    def start(self) -> None:
        for server in (self.dist, self.oci):
            self.started.append(server)
            server.start()
        self.dproxy = Distribution(self.work / "distribution-proxy", remote=self.dist.url)
        self.edges = {
            "edge of distribution": Ocicache(self.work / "edge-d", "--origin", self.dist.url,
                                             "--cache-max-bytes", str(64 << 30)),
            "edge of ocicache": Ocicache(self.work / "edge-o", "--origin", self.oci.url,
                                         "--cache-max-bytes", str(64 << 30))}
        for name, checkout in self.variants.items():
            self.edges[f"edge of distribution, {name}"] = Ocicache(
                self.work / f"edge-{name}", "--origin", self.dist.url, "--cache-max-bytes", str(64 << 30),
                env={"PYTHONPATH": checkout, "PYTHONSAFEPATH": "1"})
        for server in (self.dproxy, *self.edges.values()):
            self.started.append(server)
            server.start()

    def stop(self) -> None:
        for server in reversed(self.started):
            try:
                server.stop()
            except Exception as exc:  # keep stopping the others
                log(f"stopping {type(server).__name__} failed: {exc}")

    def pid(self, cache: str) -> int:
        return self.dproxy.proc.pid if cache == "distribution-proxy" else self.edges[cache].node.proc.pid

    def url(self, cache: str) -> str:
        return self.dproxy.url if cache == "distribution-proxy" else self.edges[cache].url

    def origin_log(self, cache: str) -> Path:
        return self.oci.node.log_path if cache == "edge of ocicache" else self.dist.log_path

    def fresh_blob(self, cache: str) -> str:
        """A blob no server has seen, pushed to the origin of `cache` only; its digest."""
        self.stamp += 1
        self.buf[:16] = self.stamp.to_bytes(16, "big")
        digest = sha256_digest(self.buf)
        pusher = Pusher(self.oci.url if cache == "edge of ocicache" else self.dist.url)
        try:
            pusher.push_blob(REPO, self.buf, digest)
        finally:
            pusher.close()
        os.sync()
        return digest

    def record(self, workload: str, cache: str, values: dict) -> None:
        slot = self.results.setdefault(workload, {}).setdefault(cache, [])
        slot.append(values)

    def repetition(self, rep: int) -> None:
        caches = self.caches
        order = caches[rep % len(caches):] + caches[:rep % len(caches)]
        for clients in (1, 8):
            for cache in order:
                digest = self.fresh_blob(cache)
                mark = self.origin_log(cache).stat().st_size
                cpu = tree_cpu_seconds(self.pid(cache))
                r = concurrent_gets(f"{self.url(cache)}/v2/{REPO}/blobs/{digest}", clients, self.size)
                time.sleep(1.0)  # let a proxy's background copy finish and be logged
                r["cpu s"] = round(tree_cpu_seconds(self.pid(cache)) - cpu, 3)
                r["load"] = round(os.getloadavg()[0], 2)
                r["origin"] = origin_requests(self.origin_log(cache), mark, digest.split(":")[1])
                self.record(f"cold GET, {clients} client{'s' * (clients > 1)}", cache, r)
                log(f"  cold GET x{clients} {cache:22} ttfb {r['ttfb ms']:7.1f} ms total {r['total s']:.3f} s "
                    f"cpu {r['cpu s']:.2f} s origin {r['origin']} load {r['load']}")
        for cache in order:
            digest = self.fresh_blob(cache)
            mark = self.origin_log(cache).stat().st_size
            status = cold_head(f"{self.url(cache)}/v2/{REPO}/blobs/{digest}")
            time.sleep(0.5)
            counts = origin_requests(self.origin_log(cache), mark, digest.split(":")[1])
            self.record("cold HEAD", cache, {"status": status, "origin": counts})
            log(f"  cold HEAD {cache:22} {status} origin {counts}")


def summary(results: dict) -> dict:
    out = {}
    for workload, caches in results.items():
        for cache, runs in caches.items():
            if "total s" in runs[0]:
                totals = [r["total s"] for r in runs]
                out.setdefault(workload, {})[cache] = {
                    "total s median": statistics.median(totals), "min": min(totals), "max": max(totals),
                    "ttfb ms median": statistics.median(r["ttfb ms"] for r in runs),
                    "cpu s median": statistics.median(r.get("cpu s", 0) for r in runs),
                    "origin requests": [r["origin"] for r in runs]}
            else:
                out.setdefault(workload, {})[cache] = {"origin requests": [r["origin"] for r in runs]}
    for workload, caches in out.items():
        proxy = caches.get("distribution-proxy", {}).get("total s median")
        for cache, s in caches.items():
            if proxy and "total s median" in s:
                s["vs distribution-proxy"] = round(s["total s median"] / proxy, 2)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--out", type=Path, default=Path("docs/performance/cold-miss.json"))
    ap.add_argument("--label", default="", help="what this run measures (e.g. before/after)")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=DIR",
                    help="also an edge of distribution running the ocicache package of DIR")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cold-miss-"))
    bench = ColdBench(work, args.mib * MIB, dict(v.split("=", 1) for v in args.variant))
    load_start = round(os.getloadavg()[0], 2)
    try:
        bench.start()
        for rep in range(args.reps):
            log(f"repetition {rep + 1}/{args.reps}")
            bench.repetition(rep)
    finally:
        bench.stop()
    doc = {"label": args.label, "machine": {**machine(), "code": code_version(), "load average at start": load_start,
                                            "load average at end": round(os.getloadavg()[0], 2)},
           "variants": bench.variants, "blob MiB": args.mib,
           "reps": args.reps, "summary": summary(bench.results), "raw": bench.results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps(doc["summary"], indent=1))
    subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
