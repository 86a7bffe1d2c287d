"""Tables (markdown) and charts (PNG) from one load-benchmark run's results.json.

    .venv/bin/python -m bench.load.report bench/results/load/results.json
"""
from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

# (label, workload, metric, ours, baselines (best of them), target, higher is better)
TARGETS = [
    ("warm 256 MiB, 16 conns (MB/s) vs best of nginx, distribution", "blob 256 MiB, 16 conns", "MB/s",
     "ocicache", ["nginx", "distribution"], 0.95, True),
    ("  same, node with [server] sendfile = false", "blob 256 MiB, 16 conns", "MB/s",
     "ocicache-copy", ["nginx", "distribution"], 0.95, True),
    ("1 MiB blob, 64 conns (req/s) vs nginx", "blob 1 MiB, 64 conns", "req/s", "ocicache", ["nginx"], 0.8, True),
    ("manifest by tag (req/s) vs distribution", "manifest by tag, 64 conns", "req/s", "ocicache",
     ["distribution"], 4, True),
    ("manifest by digest (req/s) vs distribution", "manifest by digest, 64 conns", "req/s", "ocicache",
     ["distribution"], 4, True),
    ("edge: manifest by tag (req/s) vs distribution's proxy", "manifest by tag, 64 conns", "req/s",
     "ocicache-edge", ["distribution-proxy"], 10, True),
    ("edge: manifest by digest (req/s) vs distribution's proxy", "manifest by digest, 64 conns", "req/s",
     "ocicache-edge", ["distribution-proxy"], 10, True),
    ("monolithic push 256 MiB (MB/s) vs distribution", "push 256 MiB, monolithic", "MB/s", "ocicache",
     ["distribution"], 3, True),
    ("edge: cold miss, 1 client, total time vs distribution's proxy", "cold 256 MiB miss, 1 client",
     "total s", "ocicache-edge", ["distribution-proxy"], 1, False),
    ("edge: cold miss, 8 clients, total time vs distribution's proxy", "cold 256 MiB miss, 8 clients",
     "total s", "ocicache-edge", ["distribution-proxy"], 1, False),
    ("peak RSS vs distribution (lower is better)", "peak RSS", "MiB", "ocicache", ["distribution"], 0.5, False),
]
# Workloads shown in the medians table, with the metrics to show.
TABLE = [
    ("blob 256 MiB, 1 conn", ["MB/s"]),
    ("blob 256 MiB, 16 conns", ["MB/s"]),
    ("blob 1 MiB, 64 conns", ["req/s", "p99 ms"]),
    ("manifest by tag, 64 conns", ["req/s", "p99 ms"]),
    ("manifest by digest, 64 conns", ["req/s", "p99 ms"]),
    ("Range 1 MB of 256 MiB", ["ms"]),
    ("cold 256 MiB miss, 1 client", ["ttfb ms", "total s", "origin GETs"]),
    ("cold 256 MiB miss, 8 clients", ["ttfb ms", "total s", "origin GETs"]),
    ("push 256 MiB, monolithic", ["MB/s"]),
    ("push 256 MiB, 16 MiB chunks", ["MB/s"]),
    ("peak RSS", ["MiB"]),
]
SERVERS = ["nginx", "nginx-copy", "distribution", "distribution-proxy", "ocicache", "ocicache-copy",
           "ocicache-edge"]
HIGHER_IS_BETTER = {"MB/s", "req/s"}


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}" if abs(x) < 1 else f"{x:.1f}"


def _cell(values: list[float]) -> str:
    if not values:
        return ""
    med = statistics.median(values)
    if len(values) == 1 or min(values) == max(values):
        return _fmt(med)
    return f"{_fmt(med)} ({_fmt(min(values))}–{_fmt(max(values))})"


def ratio(results: dict, workload: str, metric: str, ours: str, bases: list[str], higher: bool):
    """(ratio of medians, per-repetition ratios, the baseline used); ratio > 1 means ours is better
    for higher-is-better metrics, and is ours/baseline for lower-is-better ones."""
    w = results.get(workload, {})
    if ours not in w or not all(b in w for b in bases):
        return None
    base = max(bases, key=lambda b: statistics.median(w[b][metric]) * (1 if higher else -1))
    mine, theirs = w[ours][metric], w[base][metric]
    per_rep = [m / t for m, t in zip(mine, theirs) if t]
    return statistics.median(mine) / statistics.median(theirs), per_rep, base


def markdown(doc: dict) -> str:
    m, results = doc["machine"], doc["results"]
    lines = [f"Run of {m['date']}: {m['repetitions']} repetitions, wrk {m['wrk seconds']:g} s per run, "
             f"server order rotated each repetition; {m['run seconds']} s in all.",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory GiB']} GiB, Linux {m['kernel']}, "
             f"Python {m['python']}; {'; '.join(m['versions'].values())}.",
             f"Machine limits: SHA-256 {m['sha256 MB/s']:,.0f} MB/s (hashlib, one core); "
             f"loopback TCP copy {m['loopback copy MB/s']:,.0f} MB/s (one connection). "
             f"1-minute load average {m.get('load average at start', '?')} at the start, "
             f"{m.get('load average at end', '?')} at the end (other work on the machine shows here).", "",
             "### Targets (ratio of medians; per-repetition ratios in brackets)", "",
             "| target | ocicache | baseline | ratio | goal | met |", "|---|---|---|---|---|---|"]
    for label, workload, metric, ours, bases, goal, higher in TARGETS:
        r = ratio(results, workload, metric, ours, bases, higher)
        if r is None:
            continue
        value, per_rep, base = r
        ok = value >= goal if higher else value <= goal
        spread = f" ({min(per_rep):.2f}–{max(per_rep):.2f})" if len(per_rep) > 1 else ""
        lines.append(f"| {label} | {_cell(results[workload][ours][metric])} | {base} "
                     f"{_cell(results[workload][base][metric])} | {value:.2f}x{spread} | "
                     f"{'>=' if higher else '<='} {goal:g}x | {'yes' if ok else '**no**'} |")
    cold8 = results.get("cold 256 MiB miss, 8 clients", {})
    if "ocicache-edge" in cold8:
        gets = cold8["ocicache-edge"]["origin GETs"]
        lines.append(f"| edge: origin GETs for 8 simultaneous cold clients | {_cell(gets)} | "
                     f"distribution-proxy {_cell(cold8.get('distribution-proxy', {}).get('origin GETs', []))} "
                     f"| | exactly 1 | {'yes' if set(gets) == {1} else '**no**'} |")
    lines += ["", "### Medians (min–max) of every workload", "",
              "| workload | metric | " + " | ".join(SERVERS) + " |", "|---|---|" + "---|" * len(SERVERS)]
    for workload, metrics in TABLE:
        for metric in metrics:
            row = [_cell(results.get(workload, {}).get(s, {}).get(metric, [])) for s in SERVERS]
            if any(row):
                lines.append(f"| {workload} | {metric} | " + " | ".join(row) + " |")
    lines += ["", "### Ratios against nginx and against distribution (medians; > 1 means ocicache is "
              "better)", "", "| workload | metric | ocicache / nginx | ocicache-copy / nginx | "
              "ocicache / distribution | edge / distribution's proxy |", "|---|---|---|---|---|---|"]
    for workload, metrics in TABLE:
        for metric in metrics:
            if metric in ("origin GETs", "p99 ms"):
                continue
            higher = metric in HIGHER_IS_BETTER
            cells = []
            for ours, base in (("ocicache", "nginx"), ("ocicache-copy", "nginx"), ("ocicache", "distribution"),
                               ("ocicache-edge", "distribution-proxy")):
                r = ratio(results, workload, metric, ours, [base], higher)
                cells.append("" if r is None else f"{(r[0] if higher else 1 / r[0]):.2f}x")
            if any(cells):
                lines.append(f"| {workload} | {metric} | " + " | ".join(cells) + " |")
    lines += ["", "nginx: static files, `sendfile on` (the reference); nginx-copy: `sendfile off`. "
              "ocicache: the node's defaults (one worker per core, sendfile on); ocicache-copy: "
              "`OCICACHE_SERVER_SENDFILE=false`; ocicache-edge: `--origin` = the distribution instance. "
              "distribution-proxy: distribution's `proxy.remoteurl` = the same instance. "
              "Peak RSS is VmHWM summed over a server's processes (over-counts forked workers' shared pages)."]
    return "\n".join(lines) + "\n"


def charts(doc: dict, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = doc["results"]
    labels, values, goals = [], [], []
    for label, workload, metric, ours, bases, goal, higher in TARGETS:
        r = ratio(results, workload, metric, ours, bases, higher)
        if r is None or label.startswith("  "):
            continue
        # plotted so that longer is better: lower-is-better ratios are inverted
        labels.append(label.replace(" (req/s)", "").replace(" (MB/s)", ""))
        values.append(r[0] if higher else 1 / r[0])
        goals.append(goal if higher else 1 / goal)
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(labels) + 1.2))
    colors = ["tab:green" if v >= g else "tab:red" for v, g in zip(values, goals)]
    ax.barh(range(len(labels)), values, color=colors)
    ax.scatter(goals, range(len(labels)), marker="|", s=400, color="black", label="target", zorder=3)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.axvline(1, color="grey", lw=0.8)
    ax.set_xlabel("ratio, ocicache vs baseline (longer is better; log scale)")
    ax.set_title("ocicache against nginx and CNCF distribution, same run")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out / "ratios.png", dpi=110)
    plt.close(fig)

    panels = [("blob 256 MiB, 16 conns", "MB/s"), ("blob 1 MiB, 64 conns", "req/s"),
              ("manifest by tag, 64 conns", "req/s"), ("manifest by digest, 64 conns", "req/s")]
    fig, axes = plt.subplots(1, len(panels), figsize=(16, 4.2))
    for ax, (workload, metric) in zip(axes, panels):
        w = results.get(workload, {})
        names = [s for s in SERVERS if s in w]
        meds = [statistics.median(w[s][metric]) for s in names]
        lo = [m - min(w[s][metric]) for m, s in zip(meds, names)]
        hi = [max(w[s][metric]) - m for m, s in zip(meds, names)]
        ax.bar(names, meds, yerr=[lo, hi], capsize=3,
               color=["tab:blue" if s.startswith("ocicache") else "tab:gray" for s in names])
        ax.set_title(f"{workload} ({metric})", fontsize=9)
        ax.tick_params(axis="x", labelrotation=60, labelsize=8)
    fig.tight_layout()
    fig.savefig(out / "throughput.png", dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    path = Path(sys.argv[1])
    doc = json.loads(path.read_text())
    print(markdown(doc))
    charts(doc, path.parent)
