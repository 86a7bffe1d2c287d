"""Manifest GETs under many connections (issue 23): does every connection get served?

    python -m bench.scale_connections --reps 3 --before 434da16 --out docs/performance/scale/connections

Starts a 2-worker node of this tree (`ocicache`) and, with --before REF, one of an older commit
(`git archive` of it, run with this tree's built extensions) on loopback, pushes one manifest
to each, and runs wrk against each in turn, the order of the nodes rotated each repetition:

- saturating: `wrk -t2 -c{64,512,2000} --timeout 10s`, each connection sending its next request
  as soon as the answer arrives. The server is then always busy, so by Little's law a request
  waits connections / throughput on average: `p99 / fair share` is p99 over that, 1 when every
  connection is served alike, large when some starve;
- paced: 64 and 2,000 connections offering the same total rate (each connection waits
  connections / rate between its requests, wrk's delay()), below what the node can do: what
  many connections cost a request when the node is not saturated.

Each run also records the most connections seen waiting in the kernel's accept queues (`ss -ltn`
Recv-Q, sampled every 0.1 s) and the kernel's counters of refused connections
(TcpExtListenOverflows, TcpExtListenDrops, TcpExtTCPReqQFullDrop; /proc/net/netstat) before
and after it. Writes results.json and results.csv (bench/scale_report.py) with every repetition.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import scale_report
from bench.load.workloads import MANIFEST_ACCEPT, Pusher, sha256_digest
from tests.nodeproc import free_port, stop_process

ROOT = Path(__file__).resolve().parents[1]
REPO = "bench/conns"
SATURATING = (64, 512, 2000)
PACED = (64, 2000)
LUA = """
local pause = tonumber(os.getenv("WRK_DELAY_MS") or "0")
if pause > 0 then
  delay = function() return math.random(0, 2 * pause) end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"duration_us": %d, "requests": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, '
    .. '"errors": %d}\\n', summary.duration, summary.requests, latency:percentile(50), latency:percentile(99),
    latency.max, e.connect + e.read + e.write + e.status + e.timeout))
end
"""
COUNTERS = ("ListenOverflows", "ListenDrops", "TCPReqQFullDrop")
REFUSED = "refused by the kernel (ListenOverflows + ListenDrops + ReqQFullDrop)"


def kernel_counters() -> dict[str, int]:
    lines = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines() if line.startswith("TcpExt:")]
    values = dict(zip(lines[0][1:], (int(v) for v in lines[1][1:])))
    return {name: values.get(name, 0) for name in COUNTERS}


class QueueWatch:
    """The most connections waiting in the accept queues of `port`'s listeners, sampled every 0.1 s."""

    def __init__(self, port: int) -> None:
        self.port, self.most, self._stop = port, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            out = subprocess.run(["ss", "-ltnH", f"( sport = :{self.port} )"], capture_output=True, text=True).stdout
            self.most = max([self.most] + [sum(int(line.split()[1]) for line in out.splitlines())])

    def __enter__(self) -> "QueueWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class Node:
    """`python -m ocicache serve --workers 2` from `tree` (this checkout or an archived commit)."""

    def __init__(self, name: str, tree: Path, data_dir: Path) -> None:
        self.name, self.tree, self.data_dir = name, tree, data_dir
        self.port, self.proc = free_port(), None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.data_dir.parent / f"{self.name}.log", "ab")
        env = dict(os.environ, OCICACHE_LOG_LEVEL="warning")
        self.proc = subprocess.Popen([sys.executable, "-m", "ocicache", "serve", "--listen", f"127.0.0.1:{self.port}",
                                      "--data-dir", str(self.data_dir), "--workers", "2"],
                                     cwd=self.tree, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                pusher = Pusher(self.url)
                config = b"{}"
                pusher.push_blob(REPO, config, sha256_digest(config))
                manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                                  "digest": sha256_digest(config), "size": len(config)},
                                       "layers": []}).encode()
                pusher.push_manifest(REPO, "latest", manifest, "application/vnd.oci.image.manifest.v1+json")
                pusher.close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"node {self.name} exited; see {self.data_dir.parent / self.name}.log") from None
                time.sleep(0.2)
        raise RuntimeError(f"node {self.name} did not answer within 60 s")

    def stop(self) -> None:
        stop_process(self.proc)


def archived(ref: str, into: Path) -> Path:
    """A copy of commit `ref`'s tree, with this tree's built extensions (so both run the C paths)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    for built in (ROOT / "ocicache" / "hotpaths").glob("*.so"):
        shutil.copy2(built, into / "ocicache" / "hotpaths" / built.name)
    return into


def wrk(url: str, connections: int, seconds: float, lua: Path, delay_ms: float = 0) -> dict:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s", "-s", str(lua),
           "-H", f"Accept: {MANIFEST_ACCEPT}", f"{url}/v2/{REPO}/manifests/latest"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60,
                         env=dict(os.environ, WRK_DELAY_MS=f"{delay_ms:g}"))
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary: {out.stdout[-300:]} {out.stderr[-300:]}")
    return json.loads(line[len("WRKJSON "):])


def settle(port: int, timeout: float = 120.0) -> None:
    """Until the node has nothing left of the previous run: no connection to `port` (closed ones
    are still read, answered and torn down) and nothing in its accept queues."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        conns = subprocess.run(["ss", "-tanH", f"( sport = :{port} )"], capture_output=True, text=True).stdout
        busy = [line for line in conns.splitlines() if not line.startswith(("LISTEN", "TIME-WAIT"))]
        queued = sum(int(line.split()[1]) for line in conns.splitlines() if line.startswith("LISTEN"))
        if not busy and not queued:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the node on port {port} still holds connections {timeout:.0f} s after a run")


def run_one(doc: dict, node: Node, row: str, connections: int, seconds: float, lua: Path, delay_ms: float = 0):
    settle(node.port)
    before = kernel_counters()
    with QueueWatch(node.port) as queue:
        s = wrk(node.url, connections, seconds, lua, delay_ms)
    after = kernel_counters()
    rate = s["requests"] / (s["duration_us"] / 1e6)
    p99 = s["p99_us"] / 1000
    figures = {"req/s": rate, "p50 ms": s["p50_us"] / 1000, "p99 ms": p99, "max ms": s["max_us"] / 1000,
               "errors": s["errors"], "accept queue, most waiting": queue.most,
               REFUSED: sum(after[k] - before[k] for k in COUNTERS)}
    if not delay_ms:
        figures["p99 / fair share (connections / throughput)"] = p99 / (connections / rate * 1000)
    for metric, value in figures.items():
        scale_report.add(doc, row, node.name, metric, value)
    print(f"{node.name:>22} {row:34} {rate:7.0f} req/s  p50 {figures['p50 ms']:7.1f}  p99 {p99:7.1f}  max "
          f"{figures['max ms']:7.1f} ms  queue {queue.most:4d}  refused {figures[REFUSED]}  "
          f"load {os.getloadavg()[0]:.2f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--seconds", type=float, default=8.0, help="seconds per wrk run")
    p.add_argument("--paced-rate", type=float, default=1000.0, help="total requests/s offered by the paced runs")
    p.add_argument("--before", help="also measure this commit (e.g. the one before a change), as `before <ref>`")
    p.add_argument("--out", type=Path)
    p.add_argument("--notes", default="")
    args = p.parse_args(argv)
    doc = {"machine": scale_report.machine(args.notes), "results": {}}
    doc["machine"].update({"repetitions": args.reps, "wrk seconds": args.seconds, "paced rate": args.paced_rate,
                           "open files limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                           "net.core.somaxconn": Path("/proc/sys/net/core/somaxconn").read_text().strip(),
                           "kernel counters at start": kernel_counters()})
    with tempfile.TemporaryDirectory(prefix="ocicache-conns-") as tmp:
        work = Path(tmp)
        lua = work / "conns.lua"
        lua.write_text(LUA)
        nodes = [Node("ocicache", ROOT, work / "ocicache")]
        if args.before:
            nodes.append(Node(f"before ({args.before})", archived(args.before, work / "before"), work / "before-node"))
        try:
            for node in nodes:
                node.start()
                wrk(node.url, 64, 1, lua)  # warm-up
            for rep in range(args.reps):
                for node in nodes[rep % len(nodes):] + nodes[:rep % len(nodes)]:
                    for connections in SATURATING:
                        run_one(doc, node, f"saturating, {connections:,} connections", connections, args.seconds, lua)
                    for connections in PACED:
                        run_one(doc, node, f"paced {args.paced_rate:,.0f} req/s, {connections:,} connections",
                                connections, args.seconds, lua, delay_ms=connections / args.paced_rate * 1000)
        finally:
            for node in nodes:
                node.stop()
    doc["machine"]["kernel counters at end"] = kernel_counters()
    scale_report.finish(doc, args.out)
    print(scale_report.by_server(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
