"""The end-to-end load benchmark: ocicache against nginx and CNCF distribution, in one run.

    .venv/bin/python -m bench.load.run [--reps 3] [--duration 4] [--out bench/results/load]
    .venv/bin/python -m bench.load.run --only push-through --out bench/results/push-through
    .venv/bin/python -m bench.load.run --only tls | --only docker-pull | --only push
    .venv/bin/python -m bench.load.run --only cold-miss --out /tmp/coldmiss-run

Starts every server on loopback, seeds them (OCI push API; files for nginx), measures each
workload once per repetition with the order of servers rotated each time, and writes
results.json (every repetition), results.csv (the same, one value a line), results.md and PNG
charts to --out. Stops every process it started, also on failure. See bench/load/README.md.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import report
from .dockerpull import DockerPull
from .pushthrough import PAIRS as PUSH_PAIRS, RELAYS as PUSH_RELAYS, PushThrough
from .servers import AioRelay, Distribution, Nginx, NginxRelay, Ocicache, PssPeaks, self_signed
from .workloads import (MANIFEST_ACCEPT, Pusher, concurrent_gets, curl_timings, durable_write_mbps,
                        loopback_copy_mbps, range_latency, sha256_digest, sha256_mbps, tls_negotiated, wrk)

MIB = 1 << 20
REPO = "bench/app"
COLD_REPO = "bench/cold"
PUSH_REPO = "bench/push"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
BLOB_SERVERS = ["nginx", "nginx-copy", "distribution", "distribution-proxy", "ocicache", "ocicache-copy",
                "ocicache-edge"]
SINGLE_CONN_SERVERS = ["nginx", "nginx-copy", "distribution", "ocicache", "ocicache-copy"]
MANIFEST_SERVERS = ["distribution", "distribution-proxy", "ocicache", "ocicache-edge"]
PROXIES = ["distribution-proxy", "ocicache-edge"]
PUSH_SERVERS = ["distribution", "ocicache"]
TLS_SERVERS = ["nginx-tls", "ocicache-tls"]
WORKLOADS = ["push-through", "tls", "docker-pull", "push", "cold-miss"]   # what --only can pick
DURABLE = "dd conv=fsync"   # the disk's durable write, measured beside the pushes as if a server


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rotated(items: list[str], rep: int) -> list[str]:
    k = rep % len(items)
    return items[k:] + items[:k]


class Bench:
    def __init__(self, work: Path, big_size: int, duration: float, push_size: int, docker_mb: int) -> None:
        self.work = work
        self.big_size = big_size
        self.big = f"{big_size // MIB} MiB"     # in the workloads' names: right for any --big-mib
        self.duration = duration
        self.docker_mb = docker_mb
        tls = self_signed(work / "tls")         # one certificate for both HTTPS servers
        self.nginx = Nginx(work / "nginx", tls)
        self.dist = Distribution(work / "distribution")
        self.dproxy: Distribution | None = None
        self.oci = Ocicache(work / "ocicache")
        self.oci_copy = Ocicache(work / "ocicache", env={"OCICACHE_SERVER_SENDFILE": "false"})
        self.oci_tls = Ocicache(work / "ocicache", tls=tls)
        self.docker: DockerPull | None = None
        self.edge: Ocicache | None = None
        self.push_edge: Ocicache | None = None
        self.relay: NginxRelay | None = None
        self.aio_relays: dict[str, AioRelay] = {}
        # the push-through workload's servers by name: (URL, origin's PID, its front's PID or None)
        self.push_targets: dict[str, tuple[str, int, int | None]] = {}
        self.started: list = []
        self.results: dict[str, dict[str, dict[str, list[float]]]] = {}
        self.stamp = 0
        self.push_through = PushThrough(self.base_url, push_size, self.record, log, self.push_pids)

    # ---- set-up ----
    def _start(self, server) -> None:
        self.started.append(server)
        server.start()

    def start(self, only: str | None = None) -> None:
        """Every server; with `only`, those that workload needs."""
        wanted = {None: (self.nginx, self.dist, self.oci, self.oci_copy, self.oci_tls),
                  "push-through": (self.dist, self.oci), "tls": (self.nginx, self.oci, self.oci_tls),
                  "docker-pull": (self.dist,), "push": (self.dist, self.oci), "cold-miss": (self.dist,)}[only]
        for server in wanted:
            self._start(server)
        if only in (None, "cold-miss"):
            self.dproxy = Distribution(self.work / "distribution-proxy", remote=self.dist.url)
            self._start(self.dproxy)
        if only in (None, "push-through", "cold-miss"):
            self.edge = Ocicache(self.work / "edge", "--origin", self.dist.url, "--cache-max-bytes",
                                 str(64 << 30))
            self._start(self.edge)
        if only in (None, "push-through"):
            self.push_edge = Ocicache(self.work / "push-edge", "--origin", self.oci.url,
                                      "--cache-max-bytes", str(64 << 30))
            self._start(self.push_edge)
            self.relay = NginxRelay(self.work / "nginx-relay", {"ocicache": self.oci.url,
                                                                "distribution": self.dist.url})
            self._start(self.relay)
            self.aio_relays = {name: AioRelay(self.work / f"aiohttp-relay-{name}", server.url)
                               for name, server in (("ocicache", self.oci), ("distribution", self.dist))}
            for relay in self.aio_relays.values():
                self._start(relay)
            self._name_push_targets()
        if only == "docker-pull" or (only is None and self.docker_mb):
            self.docker = DockerPull(self.work / "docker", self.docker_mb, self.dist, self.record, log)
            self.started.append(self.docker)
            self.docker.start()

    def stop(self) -> None:
        for server in reversed(self.started):
            try:
                server.stop()
            except Exception as exc:  # keep stopping the others
                log(f"stopping {type(server).__name__} failed: {exc}")

    def _name_push_targets(self) -> None:
        """pushthrough's names (PAIRS, RELAYS) for the servers started for it."""
        edges = {"ocicache": self.push_edge, "distribution": self.edge}
        for origin, edge_name in PUSH_PAIRS:
            server = {"ocicache": self.oci, "distribution": self.dist}[origin]
            relays = {"nginx": (self.relay.url(origin), self.relay.pid()),
                      "aiohttp relay": (self.aio_relays[origin].url, self.aio_relays[origin].pid())}
            self.push_targets[origin] = (server.url, server.pid(), None)
            self.push_targets[edge_name] = (edges[origin].url, server.pid(), edges[origin].pid())
            for kind, relay_name in PUSH_RELAYS[origin].items():
                self.push_targets[relay_name] = (relays[kind][0], server.pid(), relays[kind][1])

    def base_url(self, name: str) -> str:
        if name in self.push_targets:
            return self.push_targets[name][0]
        if name.startswith("nginx"):
            return {"nginx": f"http://127.0.0.1:{self.nginx.port_sendfile}",
                    "nginx-copy": f"http://127.0.0.1:{self.nginx.port_copy}",
                    "nginx-tls": f"https://127.0.0.1:{self.nginx.port_tls}"}[name]
        return {"distribution": self.dist, "distribution-proxy": self.dproxy, "ocicache": self.oci,
                "ocicache-copy": self.oci_copy, "ocicache-tls": self.oci_tls, "ocicache-edge": self.edge, "edge of distribution": self.edge,
                "edge of ocicache": self.push_edge}[name].url

    def push_pids(self, name: str) -> tuple[int, int | None]:
        """The push-through workload's (origin PID, edge or relay PID or None) for one of its servers."""
        return self.push_targets[name][1:]

    def blob_url(self, name: str, digest: str, repo: str = REPO) -> str:
        return f"{self.base_url(name)}/v2/{repo}/blobs/{digest}"

    def next_variant(self, buf: bytearray) -> str:
        """Make `buf` a blob no server has seen yet; its digest."""
        self.stamp += 1
        buf[:16] = self.stamp.to_bytes(16, "big")
        return sha256_digest(buf)

    def seed(self, reps: int, only: str | None = None) -> None:
        """The blobs and the manifest into distribution and ocicache (ocicache alone for `tls`),
        files for nginx, cold blobs in distribution; both proxies warmed."""
        self.blob = bytearray(os.urandom(self.big_size))
        self.big_digest = self.next_variant(self.blob)
        small = os.urandom(MIB)
        self.small_digest = sha256_digest(small)
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": []}}).encode()
        config_digest = sha256_digest(config)
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                       "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n}
                       for d, n in ((self.big_digest, self.big_size), (self.small_digest, MIB))]}).encode()
        self.manifest_digest = sha256_digest(manifest)
        for name in PUSH_SERVERS if only is None else ["ocicache"]:
            pusher = Pusher(self.base_url(name))
            try:
                for data, digest in ((self.blob, self.big_digest), (small, self.small_digest),
                                     (config, config_digest)):
                    pusher.push_blob(REPO, data, digest)
                pusher.push_manifest(REPO, "v1", manifest, OCI_MANIFEST)
            finally:
                pusher.close()
        for data, digest in ((self.blob, self.big_digest), (small, self.small_digest)):
            self.nginx.put_file(f"/v2/{REPO}/blobs/{digest}", bytes(data))
        if only == "tls":
            return
        self.seed_cold(reps)
        # warm both proxies: blobs and manifests fetched once through each
        for name in PROXIES:
            for digest in (self.big_digest, self.small_digest):
                assert curl_timings(self.blob_url(name, digest))[0] == 200
            for ref in ("v1", self.manifest_digest):
                url = f"{self.base_url(name)}/v2/{REPO}/manifests/{ref}"
                assert curl_timings(url, {"Accept": MANIFEST_ACCEPT})[0] == 200

    def seed_cold(self, reps: int) -> None:
        """A fresh cold blob per repetition, client count and proxy, in the origin only: each proxy
        its own, so that the origin's log lines for a blob are that proxy's alone (distribution logs a
        request when it ends, and its proxy's copy into its store can end after the next GET began)."""
        if not hasattr(self, "blob"):
            self.blob = bytearray(os.urandom(self.big_size))
        self.cold: dict[tuple[int, int, str], str] = {}
        pusher = Pusher(self.dist.url)
        try:
            for key in [(rep, clients, name) for rep in range(reps) for clients in (1, 8) for name in PROXIES]:
                digest = self.next_variant(self.blob)
                pusher.push_blob(COLD_REPO, self.blob, digest)
                self.cold[key] = digest
        finally:
            pusher.close()
        os.sync()

    # ---- measuring ----
    def record(self, workload: str, server: str, values: dict[str, float]) -> None:
        slot = self.results.setdefault(workload, {}).setdefault(server, {})
        for key, value in values.items():
            slot.setdefault(key, []).append(value)

    def run_wrk(self, workload: str, servers: list[str], rep: int, url_of, connections: int,
                headers: dict[str, str] | None = None) -> None:
        """One wrk run per server; when no request completed in time (256 MiB over 16 connections on a
        busy machine, say), again with three times the duration, twice at most ("wrk s" records it)."""
        for name in rotated(servers, rep):
            seconds = self.duration
            r = wrk(url_of(name), connections, seconds, headers)
            while not r["errors"] and not r["requests"] and seconds < 9 * self.duration:
                seconds *= 3
                log(f"  {workload} on {name}: no request completed; again for {seconds:g} s")
                r = wrk(url_of(name), connections, seconds, headers)
            if r["errors"] or not r["requests"]:
                raise RuntimeError(f"{workload} on {name}: {r['errors']} errors, {r['requests']} requests "
                                   f"in {seconds:g} s")
            self.record(workload, name, {**{k: r[k] for k in ("MB/s", "req/s", "p50 ms", "p99 ms")},
                                         "wrk s": seconds})
            log(f"  {workload:22} {name:20} {r['MB/s']:9.1f} MB/s {r['req/s']:9.1f} req/s "
                f"p99 {r['p99 ms']:.2f} ms")

    def tls_repetition(self, rep: int) -> None:
        """The blob workloads over HTTPS: nginx and ocicache, the same certificate and ciphers."""
        self.run_wrk(f"blob {self.big}, 16 conns, TLS", TLS_SERVERS, rep,
                     lambda name: self.blob_url(name, self.big_digest), 16)
        self.run_wrk("blob 1 MiB, 64 conns, TLS", TLS_SERVERS, rep,
                     lambda name: self.blob_url(name, self.small_digest), 64)

    def repetition(self, rep: int, only: str | None = None) -> None:
        """One repetition of every workload, or of `only`; with every workload, the peak RSS of
        each server during this repetition."""
        if only is not None:
            if only == "push-through":
                self.push_through.repetition(rep)
            elif only == "tls":
                self.tls_repetition(rep)
            elif only == "push":
                self.push_repetition(rep)
            elif only == "cold-miss":
                self.measured_rss(self.cold_repetition, rep, {"distribution-proxy": self.dproxy,
                                                              "ocicache-edge": self.edge})
            else:
                self.docker.repetition(rep)
            return
        self.measured_rss(self.every_workload, rep, self.rss_servers())

    def every_workload(self, rep: int) -> None:
        self.main_repetition(rep)
        self.tls_repetition(rep)
        self.push_through.repetition(rep)
        if self.docker is not None:
            self.docker.repetition(rep)

    def measured_rss(self, run, rep: int, servers: dict) -> None:
        """`run(rep)` with each server's peak memory recorded as "peak RSS": `MiB`, VmHWM summed over
        its processes (reset at the start; the goal's figure, which counts the pages forked workers
        share once per process), and `PSS MiB`, the highest sum of their PSS sampled every 0.2 s
        (each shared page divided among the processes that map it)."""
        for server in servers.values():
            server.reset_peak()
        with PssPeaks(servers) as pss:
            run(rep)
        for name, server in servers.items():
            self.record("peak RSS", name, {"MiB": server.peak_rss() / MIB, "PSS MiB": pss.peak(name) / MIB})

    def main_repetition(self, rep: int) -> None:
        big = lambda name: self.blob_url(name, self.big_digest)  # noqa: E731
        small = lambda name: self.blob_url(name, self.small_digest)  # noqa: E731
        self.run_wrk(f"blob {self.big}, 1 conn", SINGLE_CONN_SERVERS, rep, big, 1)
        self.run_wrk(f"blob {self.big}, 16 conns", BLOB_SERVERS, rep, big, 16)
        self.run_wrk("blob 1 MiB, 64 conns", BLOB_SERVERS, rep, small, 64)
        accept = {"Accept": MANIFEST_ACCEPT}
        self.run_wrk("manifest by tag, 64 conns", MANIFEST_SERVERS, rep,
                     lambda n: f"{self.base_url(n)}/v2/{REPO}/manifests/v1", 64, accept)
        self.run_wrk("manifest by digest, 64 conns", MANIFEST_SERVERS, rep,
                     lambda n: f"{self.base_url(n)}/v2/{REPO}/manifests/{self.manifest_digest}", 64, accept)
        middle = self.big_size // 2
        for name in rotated(BLOB_SERVERS, rep):
            r = range_latency(big(name), middle, 1_000_000, rounds=15)
            self.record(f"Range 1 MB of {self.big}", name, {"ms": r["ms"]})
        self.cold_repetition(rep)
        self.push_repetition(rep)

    def cold_repetition(self, rep: int) -> None:
        """A fresh big blob through each proxy, by 1 client and by 8 at once."""
        for clients in (1, 8):
            for name in rotated(PROXIES, rep):
                cold = self.cold[(rep, clients, name)]
                mark = self.dist.log_offset()
                r = concurrent_gets(self.blob_url(name, cold, COLD_REPO), clients, self.big_size)
                r["origin GETs"] = self.origin_gets_settled(mark, cold)
                self.record(f"cold {self.big} miss, {clients} client{'s' * (clients > 1)}", name, r)
                log(f"  cold x{clients} {name:20} ttfb {r['ttfb ms']:.1f} ms total {r['total s']:.2f} s "
                    f"origin GETs {r['origin GETs']}")

    def origin_gets_settled(self, mark: int, digest: str) -> int:
        """The origin's GETs of `digest` logged since `mark`, once the count has held for a second
        (a proxy's copy into its store ends, and is logged, after its client's GET; 10 s at most)."""
        count, deadline = -1, time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(1.0)
            now = self.dist.requests_since(mark, "GET", digest.split(":")[1])
            if now == count:
                break
            count = now
        return count

    def push_repetition(self, rep: int) -> None:
        """A fresh big blob pushed to distribution and to ocicache, monolithically and in 16 MiB
        PATCHes; beside the monolithic pushes, `dd conv=fsync` of the same size on the same disk
        (DURABLE: what the disk can make durable, the bound of a push acknowledged after fsync)."""
        if not hasattr(self, "blob"):
            self.blob = bytearray(os.urandom(self.big_size))
        mono = f"push {self.big}, monolithic"
        for label, chunk in ((mono, None), (f"push {self.big}, 16 MiB chunks", 16 * MIB)):
            names = PUSH_SERVERS + [DURABLE] if chunk is None else PUSH_SERVERS
            for name in rotated(names, rep):
                if name == DURABLE:
                    mbps = durable_write_mbps(self.work, self.big_size)
                else:
                    digest = self.next_variant(self.blob)
                    pusher = Pusher(self.base_url(name))
                    try:
                        mbps = self.big_size / pusher.push_blob(PUSH_REPO, self.blob, digest, chunk) / 1e6
                    finally:
                        pusher.close()
                self.record(label, name, {"MB/s": mbps})
                log(f"  {label:28} {name:14} {mbps:8.1f} MB/s")
                os.sync()  # writeback of this push must not land in the next measurement

    def rss_servers(self) -> dict:
        return {"nginx": self.nginx, "distribution": self.dist, "distribution-proxy": self.dproxy,
                "ocicache": self.oci, "ocicache-copy": self.oci_copy, "ocicache-edge": self.edge}


def machine() -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    versions = {}
    for cmd in (["nginx", "-v"], ["docker-registry", "--version"], ["wrk", "-v"]):
        out = subprocess.run(cmd, capture_output=True, text=True)
        versions[cmd[0]] = (out.stdout + out.stderr).strip().splitlines()[0]
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "memory GiB": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "python": platform.python_version(), "versions": versions, "code": code_version()}


def code_version() -> str:
    """The commit measured, and whether ocicache/ had uncommitted changes at the time."""
    run = subprocess.run
    head = run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or "?"
    dirty = run(["git", "status", "--porcelain", "--", "ocicache"], capture_output=True, text=True).stdout.strip()
    return f"{head}{' with uncommitted changes in ocicache/' if dirty else ''}"


def write_results(out: Path, doc: dict) -> None:
    """results.json and results.csv (workload, server, metric, repetition, value: every figure)."""
    (out / "results.json").write_text(json.dumps(doc, indent=1) + "\n")
    with open(out / "results.csv", "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["workload", "server", "metric", "repetition", "value"])
        for workload, servers in doc["results"].items():
            for server, metrics in servers.items():
                for metric, values in metrics.items():
                    writer.writerows([workload, server, metric, i + 1, v] for i, v in enumerate(values))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", 3)))
    p.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_DURATION", 4)),
                   help="seconds per wrk run")
    p.add_argument("--big-mib", type=int, default=int(os.environ.get("BENCH_BIG_MIB", 256)))
    p.add_argument("--push-mib", type=int, default=64, help="blob size of the push-through workload")
    p.add_argument("--docker-mb", type=int, default=1130,
                   help="size of the image of the docker-pull workload (decimal MB; 12 layers); "
                        "0: every workload but that one")
    p.add_argument("--only", choices=WORKLOADS, help="run only this workload (and start only the servers it needs)")
    p.add_argument("--notes", default="", help="what else ran on the machine, reduced sizes...; kept in results.json")
    p.add_argument("--max-seconds", type=float, default=1800,
                   help="no repetition starts after this many seconds")
    p.add_argument("--out", help="default bench/results/load, or bench/results/<workload> with --only")
    p.add_argument("--keep", action="store_true", help="keep the servers' folders and logs")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("wrk", "nginx", "docker-registry", "curl"):
        if shutil.which(tool) is None:
            print(f"bench: {tool} is missing (make system-deps installs it)", file=sys.stderr)
            return 2
    out = Path(args.out or f"bench/results/{args.only or 'load'}")
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="ocicache-load-"))
    started = time.monotonic()
    bench = Bench(work, args.big_mib * MIB, args.duration, args.push_mib * MIB, args.docker_mb)
    reps_done = 0
    try:
        info = machine()
        info["load average at start"] = round(os.getloadavg()[0], 2)
        log(f"limits: SHA-256, loopback copy and durable write (dd conv=fsync) on {info['cpu']}")
        info["sha256 MB/s"] = sha256_mbps()
        info["loopback copy MB/s"] = loopback_copy_mbps()
        info["durable write MB/s"] = durable_write_mbps(work, args.big_mib * MIB)
        log(f"starting servers in {work}")
        bench.start(args.only)
        if args.only in (None, "tls"):
            info["TLS negotiated"] = {name: tls_negotiated(bench.base_url(name)) for name in TLS_SERVERS}
            log("seeding (OCI push API; files for nginx)")
            bench.seed(args.reps, args.only)
        elif args.only == "cold-miss":
            log("seeding (fresh cold blobs in distribution)")
            bench.seed_cold(args.reps)
        for rep in range(args.reps):
            if time.monotonic() - started > args.max_seconds:
                log(f"time budget spent; stopping after {rep} repetitions")
                break
            log(f"repetition {rep + 1}/{args.reps}")
            bench.repetition(rep, args.only)
            reps_done += 1
        if bench.docker is not None:
            info["docker image"] = bench.docker.label
    finally:
        bench.stop()
        if args.keep:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    info["load average at end"] = round(os.getloadavg()[0], 2)
    info.update({"repetitions": reps_done, "wrk seconds": args.duration, "big blob MiB": args.big_mib,
                 "push-through blob MiB": args.push_mib, "workloads": args.only or "all", "notes": args.notes,
                 "date": time.strftime("%Y-%m-%d %H:%M"), "run seconds": round(time.monotonic() - started)})
    doc = {"machine": info, "results": bench.results}
    write_results(out, doc)
    text = report.markdown(doc)
    (out / "results.md").write_text(text)
    if args.only is None:
        report.charts(doc, out)
    print(text)
    return 0

if __name__ == "__main__":
    sys.exit(main())
