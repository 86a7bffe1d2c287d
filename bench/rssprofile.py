"""Where a node's memory is, per process: idle, and under wrk -c64 on a 1 MiB blob and on a manifest.

    .venv/bin/python -m bench.rssprofile [--reps 3] [--duration 10] [--variant NAME:KEY=VALUE,...]

Starts a node as bench/load starts it (tests/nodeproc.py, a directory origin, `--workers 0` =
one per core), pushes an image with a 1 MiB layer, and records for the parent and each worker
(from /proc/PID/status and /proc/PID/smaps_rollup): VmHWM, VmRSS, RssAnon, RssFile, Pss and USS
(Private_Clean + Private_Dirty), threads. Idle: 3 s after start. Under load: VmHWM reset
(clear_refs 5), then `wrk -c64` for --duration seconds; PSS and USS are the highest of samples
taken every 0.2 s. A variant is a second node started with extra environment (`PYTHONSAFEPATH=1
PYTHONPATH=<checkout>` runs another checkout; `MALLOC_ARENA_MAX=2`); nodes are interleaved, the
order rotated each repetition. Prints one line per process and phase, and the medians of the sums.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

from bench.load.servers import tree_reset_peak
from bench.load.workloads import wrk
from tests.nodeproc import NodeProcess
from tests.ocisync import OCI_MANIFEST, push_image, sha

MIB = 1 << 20
REPO = "rss/app"
FIELDS = ("VmHWM", "VmRSS", "RssAnon", "RssFile", "Pss", "USS", "Threads")


def snapshot(pid: int) -> dict[str, float]:
    """The FIELDS of one process, memory in MiB."""
    out: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) / 1024
        elif key == "Threads":
            out[key] = int(value)
    uss = 0
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "Pss":
            out["Pss"] = int(value.split()[0]) / 1024
        elif key in ("Private_Clean", "Private_Dirty"):
            uss += int(value.split()[0])
    out["USS"] = uss / 1024
    return out


def processes(parent: int) -> dict[str, int]:
    """{"parent": pid, "worker0": pid, ...} (the workers in pid order)."""
    children = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        children += [int(c) for c in (task / "children").read_text().split()]
    roles = {"parent": parent}
    roles.update({f"worker{i}": pid for i, pid in enumerate(sorted(children))})
    return roles


def under_load(pids: dict[str, int], url: str, duration: float, headers=None) -> tuple[dict, dict]:
    """Per process: the snapshot after the run (VmHWM = the run's peak) with Pss and USS replaced
    by their highest samples; and the wrk result."""
    tree_reset_peak(pids["parent"])
    peaks = {role: snapshot(pid) for role, pid in pids.items()}
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            for role, pid in pids.items():
                now = snapshot(pid)
                for key in ("Pss", "USS", "Threads"):
                    peaks[role][key] = max(peaks[role][key], now[key])

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = wrk(url, 64, duration, headers)
    finally:
        done.set()
        sampler.join()
    after = {role: snapshot(pid) for role, pid in pids.items()}
    for role in after:
        for key in ("Pss", "USS", "Threads"):
            after[role][key] = max(after[role][key], peaks[role][key])
    return after, result


def line(name: str, phase: str, per: dict[str, dict]) -> str:
    rows = []
    for role, snap in per.items():
        rows.append(f"  {name:10} {phase:9} {role:8} " + " ".join(f"{k} {snap[k]:6.1f}" for k in FIELDS))
    total = {k: sum(s[k] for s in per.values()) for k in FIELDS}
    rows.append(f"  {name:10} {phase:9} {'sum':8} " + " ".join(f"{k} {total[k]:6.1f}" for k in FIELDS))
    return "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                   help="also measure a node started with this environment")
    args = p.parse_args()
    layer = os.urandom(MIB)
    variants = {"current": {}}
    for spec in args.variant:
        name, _, env = spec.partition(":")
        variants[name] = dict(kv.split("=", 1) for kv in env.split(",") if kv)
    sums: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="ocicache-rss-") as work:
        for rep in range(args.reps):
            names = list(variants)
            for name in names[rep % len(names):] + names[:rep % len(names)]:
                node = NodeProcess(Path(work) / f"{name}-{rep}", "--workers", "0", env=variants[name])
                node.start()
                try:
                    manifest = push_image(node.url, REPO, "v1", layer)
                    blob_url = f"{node.url}/v2/{REPO}/blobs/{sha(layer)}"
                    manifest_url = f"{node.url}/v2/{REPO}/manifests/{manifest}"
                    time.sleep(3)
                    pids = processes(node.proc.pid)
                    phases = {"idle": {role: snapshot(pid) for role, pid in pids.items()}}
                    phases["blob"], blob = under_load(pids, blob_url, args.duration)
                    phases["manifest"], man = under_load(pids, manifest_url, args.duration,
                                                         {"Accept": OCI_MANIFEST})
                    phases["after"] = {role: snapshot(pid) for role, pid in pids.items()}
                    print(f"rep {rep} {name}: blob {blob['req/s']:.0f} req/s ({blob['errors']} errors), "
                          f"manifest {man['req/s']:.0f} req/s ({man['errors']} errors)", flush=True)
                    for phase, per in phases.items():
                        print(line(name, phase, per), flush=True)
                        sums.setdefault((name, phase), []).append(
                            {k: sum(s[k] for s in per.values()) for k in FIELDS})
                        sums[(name, phase)][-1].update({"blob req/s": blob["req/s"], "manifest req/s": man["req/s"]})
                finally:
                    node.stop()
    print("medians of the sums over the node's processes (min-max), MiB:")
    for (name, phase), runs in sums.items():
        cells = []
        for key in ("VmHWM", "Pss", "USS", "RssAnon", "RssFile"):
            values = [r[key] for r in runs]
            cells.append(f"{key} {statistics.median(values):.1f} ({min(values):.1f}-{max(values):.1f})")
        print(f"  {name:10} {phase:9} " + "  ".join(cells))
    for name in variants:
        runs = sums[(name, "idle")]
        print(f"  {name:10} req/s: blob {statistics.median(r['blob req/s'] for r in runs):.0f}, "
              f"manifest {statistics.median(r['manifest req/s'] for r in runs):.0f}")


if __name__ == "__main__":
    main()
