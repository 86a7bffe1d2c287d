"""Tables (markdown) and charts (PNG) from one load-benchmark run's results.json.

    .venv/bin/python -m bench.load.report bench/results/load/results.json

Workload names hold the sizes of the run ("blob {big}, 16 conns" with `big blob MiB` of the
run's machine record), so every label is right for any `--big-mib`. The generated blocks of
README.md and docs/PERFORMANCE.md come from here through bench/load/sections.py.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from .pushthrough import (CPU_METRICS as PUSH_CPU, PAIRS as PUSH_PAIRS, RELAY_KINDS, RELAYS as PUSH_RELAYS,
                          WORKLOADS as PUSH_WORKLOADS)

DURABLE = "dd conv=fsync"   # run.py records the disk's durable write beside the pushes under this name
# (label, workload, metric, ours, baselines (best of them), target, higher is better)
# "{big}" is the run's big blob ("256 MiB"), "{image}" the docker-pull image ("1.13 GB image, 12 layers").
TARGETS = [
    ("warm {big}, 16 conns (MB/s) vs best of nginx, distribution", "blob {big}, 16 conns", "MB/s",
     "ocicache", ["nginx", "distribution"], 0.95, True),
    ("  same, node with [server] sendfile = false", "blob {big}, 16 conns", "MB/s",
     "ocicache-copy", ["nginx", "distribution"], 0.95, True),
    ("1 MiB blob, 64 conns (req/s) vs nginx", "blob 1 MiB, 64 conns", "req/s", "ocicache", ["nginx"], 0.8, True),
    ("over TLS: 1 MiB blob, 64 conns (req/s) vs nginx with TLS", "blob 1 MiB, 64 conns, TLS", "req/s",
     "ocicache-tls", ["nginx-tls"], 0.9, True),
    ("over TLS: {big} blob, 16 conns (MB/s) vs nginx with TLS", "blob {big}, 16 conns, TLS", "MB/s",
     "ocicache-tls", ["nginx-tls"], 0.95, True),
    ("manifest by tag (req/s) vs distribution", "manifest by tag, 64 conns", "req/s", "ocicache",
     ["distribution"], 4, True),
    ("manifest by digest (req/s) vs distribution", "manifest by digest, 64 conns", "req/s", "ocicache",
     ["distribution"], 4, True),
    ("edge: manifest by tag (req/s) vs distribution's proxy", "manifest by tag, 64 conns", "req/s",
     "ocicache-edge", ["distribution-proxy"], 10, True),
    ("edge: manifest by digest (req/s) vs distribution's proxy", "manifest by digest, 64 conns", "req/s",
     "ocicache-edge", ["distribution-proxy"], 10, True),
    ("monolithic push {big} (MB/s) vs distribution", "push {big}, monolithic", "MB/s", "ocicache",
     ["distribution"], 3, True),
    ("monolithic push {big} (MB/s) vs this disk's durable write, `dd conv=fsync` of the same size",
     "push {big}, monolithic", "MB/s", "ocicache", [DURABLE], 0.7, True),
    ("edge: cold miss, 1 client, total time vs distribution's proxy", "cold {big} miss, 1 client",
     "total s", "ocicache-edge", ["distribution-proxy"], 1, False),
    ("edge: cold miss, 8 clients, total time vs distribution's proxy", "cold {big} miss, 8 clients",
     "total s", "ocicache-edge", ["distribution-proxy"], 1, False),
    ("edge: `docker pull`, cold, time vs distribution's proxy", "docker pull {image}, cold", "s",
     "ocicache-edge", ["distribution-proxy"], 1, False),
    ("edge: `docker pull`, warm, time vs distribution's proxy", "docker pull {image}, warm", "s",
     "ocicache-edge", ["distribution-proxy"], 1, False),
    ("peak RSS vs distribution (lower is better)", "peak RSS", "MiB", "ocicache", ["distribution"], 0.5, False),
]
# Workloads shown in the medians table, with the metrics to show.
TABLE = [
    ("blob {big}, 1 conn", ["MB/s"]),
    ("blob {big}, 16 conns", ["MB/s"]),
    ("blob 1 MiB, 64 conns", ["req/s", "p99 ms"]),
    ("blob {big}, 16 conns, TLS", ["MB/s"]),
    ("blob 1 MiB, 64 conns, TLS", ["req/s", "p99 ms"]),
    ("manifest by tag, 64 conns", ["req/s", "p99 ms"]),
    ("manifest by digest, 64 conns", ["req/s", "p99 ms"]),
    ("Range 1 MB of {big}", ["ms"]),
    ("cold {big} miss, 1 client", ["ttfb ms", "total s", "origin GETs"]),
    ("cold {big} miss, 8 clients", ["ttfb ms", "total s", "origin GETs"]),
    ("push {big}, monolithic", ["MB/s"]),
    ("push {big}, 16 MiB chunks", ["MB/s"]),
    ("docker pull {image}, cold", ["s", "registry s", "engine s"]),
    ("docker pull {image}, warm", ["s", "registry s", "engine s"]),
    ("peak RSS", ["MiB", "PSS MiB"]),
]
ALL_SERVERS = ["nginx", "nginx-copy", "nginx-tls", "distribution", "distribution-proxy", "ocicache",
               "ocicache-copy", "ocicache-tls", "ocicache-edge", DURABLE]
HIGHER_IS_BETTER = {"MB/s", "req/s"}
PUSH_THROUGH_GOAL = 0.8     # issue 15: a push through an edge at >= 0.8x the throughput of a direct push


def named(m: dict, template: str) -> str:
    """A workload's or label's name in this run: its sizes filled in."""
    return template.format(big=f"{m.get('big blob MiB', 256)} MiB", image=m.get("docker image", "?"))


def sized(doc: dict) -> tuple[list, list]:
    """TARGETS and TABLE with this run's names."""
    m = doc["machine"]
    targets = [(named(m, label), named(m, w), *rest) for label, w, *rest in TARGETS]
    return targets, [(named(m, w), metrics) for w, metrics in TABLE]


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
    if any(metric not in w.get(s, {}) for s in (ours, *bases)):
        return None  # a server, or this metric of one (PSS before it was measured), is not in this run
    base = max(bases, key=lambda b: statistics.median(w[b][metric]) * (1 if higher else -1))
    mine, theirs = w[ours][metric], w[base][metric]
    per_rep = [m / t for m, t in zip(mine, theirs) if t]
    return statistics.median(mine) / statistics.median(theirs), per_rep, base


def header(m: dict) -> list[str]:
    """The run, the machine, its limits and load, and the run's notes."""
    only = m.get("workloads", "all")
    what = f"only the {only} workload" if only != "all" else f"wrk {m['wrk seconds']:g} s per run"
    lines = [f"Run of {m['date']}: {m['repetitions']} repetition{'s' * (m['repetitions'] != 1)}, {what}, "
             f"server order rotated each repetition; {m['run seconds']} s in all.",
             f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory GiB']} GiB, Linux {m['kernel']}, "
             f"Python {m['python']}; {'; '.join(m['versions'].values())}.",
             f"Machine limits: SHA-256 {m['sha256 MB/s']:,.0f} MB/s (hashlib, one core); "
             f"loopback TCP copy {m['loopback copy MB/s']:,.0f} MB/s (one connection)"
             + (f"; durable write {m['durable write MB/s']:,.0f} MB/s (`dd conv=fsync` of the big blob's size)"
                if m.get("durable write MB/s") else "") + ". "
             f"1-minute load average {m.get('load average at start', '?')} at the start, "
             f"{m.get('load average at end', '?')} at the end (other work on the machine shows here)."]
    if m.get("TLS negotiated"):
        lines.append("TLS as negotiated by a client with OpenSSL's defaults (as wrk): " +
                     "; ".join(f"{k} {v}" for k, v in m["TLS negotiated"].items()) + ".")
    if m.get("code"):
        lines.append(f"Code: commit {m['code']}.")
    if m.get("notes"):
        lines.append(f"Notes: {m['notes']}")
    return lines


def push_through(doc: dict) -> list[str]:
    """The push-through table (issue 15): each pair's direct and through-the-edge medians and the
    ratio edge / direct against the goal, beside each relay's relay / direct when the run has
    them (the floors: what a hop alone costs on this machine, and on this stack); empty when the
    run has no push-through results."""
    results, size = doc["results"], doc["machine"].get("push-through blob MiB", "?")
    kinds = [k for k in RELAY_KINDS if any(PUSH_RELAYS[o][k] in results.get(w, {}) for w, _ in PUSH_WORKLOADS
                                           for o, _ in PUSH_PAIRS)]
    rows = []
    for workload, metric in PUSH_WORKLOADS:
        for origin, edge in PUSH_PAIRS:
            r = ratio(results, workload, metric, edge, [origin], True)
            if r is None:
                continue
            value, per_rep, _ = r
            relay_cells = ""
            for kind in kinds:
                relay = ratio(results, workload, metric, PUSH_RELAYS[origin][kind], [origin], True)
                relay_cells += (f" {_cell(results[workload][PUSH_RELAYS[origin][kind]][metric])} | "
                                f"{relay[0]:.2f}x{_spread(relay[1])} |" if relay else " | |")
            rows.append(f"| {workload.replace('blob', f'{size} MiB blob')} | {metric} | {origin} | "
                        f"{_cell(results[workload][origin][metric])} | {_cell(results[workload][edge][metric])} | "
                        f"{value:.2f}x{_spread(per_rep)} | >= {PUSH_THROUGH_GOAL:g}x | "
                        f"{'yes' if value >= PUSH_THROUGH_GOAL else '**no**'} |{relay_cells}")
    if not rows:
        return []
    head = ("| workload | metric | origin | direct to the origin | through an edge in front of it | "
            "edge / direct | goal | met |" + "".join(f" through {k} | {k} / direct |" for k in kinds))
    return ["### Push through an edge vs directly to its origin (medians, min–max; ratio of medians, "
            "per-repetition ratios in brackets)", "", head, "|" + "---|" * (head.count("|") - 1), *rows, "",
            "Direct and through the edge alternate push by push, the order rotated each repetition; "
            "every push is content no server has seen; `sync` after each. The edge of ocicache: "
            "`ocicache serve --origin <the ocicache node>`; the edge of distribution: `--origin <the "
            "distribution instance>`. Both edges: one worker per core, their defaults otherwise."
            + (" The relays stream every request and answer through and keep nothing: nginx "
               "(`proxy_request_buffering off`, kept-alive upstream connections, no access log) is "
               "what a hop costs on this machine; the aiohttp relay (bench/load/aiorelay.py, aiohttp "
               "on uvloop, one worker per core) is what a hop costs on ocicache's own stack." if kinds else "")]


def _spread(per_rep: list[float]) -> str:
    return f" ({min(per_rep):.2f}–{max(per_rep):.2f})" if len(per_rep) > 1 else ""


def push_cpu(doc: dict) -> list[str]:
    """The CPU each push cost (medians per push) and what it allows on this machine's cores: a
    push through the edge takes at least (origin + edge + client CPU) / cores of wall time, so
    edge / direct can be at most the direct push's wall time over that. The CPU figures miss
    threads that start and end within a push (servers.tree_thread_cpu_seconds), so the ceiling is, if
    anything, too high.
    Empty when the run did not measure CPU."""
    results, cores = doc["results"], doc["machine"]["cores"]
    size = doc["machine"].get("push-through blob MiB", "?")
    rows = []
    for workload, _ in PUSH_WORKLOADS:
        for origin, edge in PUSH_PAIRS:
            w = results.get(workload, {})
            paths = [(s, p) for s, p in ((origin, "direct"), (edge, "through the edge"),
                                         *((PUSH_RELAYS[origin][k], f"through {k}") for k in RELAY_KINDS))
                     if s in w]
            if any(m not in w[s] for s, _ in paths for m in PUSH_CPU) or len(paths) < 2:
                continue
            for server, path in paths:
                m = {k: statistics.median(w[server][k]) for k in PUSH_CPU}
                cpu = sum(m[k] for k in PUSH_CPU[:3])
                busy = cpu / m["wall ms"] if m["wall ms"] else 0
                ceiling = statistics.median(w[origin]["wall ms"]) * cores / cpu if cpu else float("inf")
                rows.append(f"| {workload.replace('blob', f'{size} MiB blob')} | {origin} | {path} | "
                            f"{_fmt(m['wall ms'])} | {_fmt(m['origin CPU ms'])} | {_fmt(m['edge CPU ms'])} | "
                            f"{_fmt(m['client CPU ms'])} | {busy:.2f} | "
                            f"{f'{ceiling:.2f}x' if path != 'direct' else ''} |")
    if not rows:
        return []
    return [f"### CPU per push, and the ceiling it sets on {cores} cores (medians per push; per image for small images)", "",
            "| workload | origin | path | wall ms | origin CPU ms | edge (or relay) CPU ms | client CPU ms | "
            "cores busy | its / direct at most |", "|---|---|---|---|---|---|---|---|---|", *rows, "",
            "CPU of the origin's processes, the edge's and the benchmark client's, over the same window "
            "as the push's wall time; \"cores busy\" is their sum over the wall time. The three share "
            f"the machine's {cores} cores, so a push through the edge takes at least the sum of its three "
            "CPU figures divided by the cores: the last column is the direct wall time over that. A "
            "thread that starts and ends within a push is not counted (the C hasher's writer thread "
            "for a piece of 256 KiB or more), so the ceiling is, if anything, too high."]


def targets_table(doc: dict) -> list[str]:
    results = doc["results"]
    targets, _ = sized(doc)
    rows = []
    for label, workload, metric, ours, bases, goal, higher in targets:
        r = ratio(results, workload, metric, ours, bases, higher)
        if r is None:
            continue
        value, per_rep, base = r
        ok = value >= goal if higher else value <= goal
        spread = f" ({min(per_rep):.2f}–{max(per_rep):.2f})" if len(per_rep) > 1 else ""
        rows.append(f"| {label} | {_cell(results[workload][ours][metric])} | {base} "
                    f"{_cell(results[workload][base][metric])} | {value:.2f}x{spread} | "
                    f"{'>=' if higher else '<='} {goal:g}x | {'yes' if ok else '**no**'} |")
    rows += _push_bound(doc)
    cold8 = results.get(named(doc["machine"], "cold {big} miss, 8 clients"), {})
    if "ocicache-edge" in cold8:
        gets = cold8["ocicache-edge"]["origin GETs"]
        rows.append(f"| edge: origin GETs for 8 simultaneous cold clients | {_cell(gets)} | "
                    f"distribution-proxy {_cell(cold8.get('distribution-proxy', {}).get('origin GETs', []))} "
                    f"| | exactly 1 | {'yes' if set(gets) == {1} else '**no**'} |")
    return ["| target | ocicache | baseline | ratio | goal | met |", "|---|---|---|---|---|---|", *rows]


def _push_bound(doc: dict) -> list[str]:
    """When 3x distribution's monolithic push is more than the disk can make durable (dd conv=fsync
    in the same run), the row that says so: that target is then bound by the disk, not the code."""
    push = doc["results"].get(named(doc["machine"], "push {big}, monolithic"), {})
    if not all(s in push for s in ("ocicache", "distribution", DURABLE)):
        return []
    dist, disk = (statistics.median(push[s]["MB/s"]) for s in ("distribution", DURABLE))
    if 3 * dist <= disk:
        return []
    ours = statistics.median(push["ocicache"]["MB/s"])
    return [f"| bound: 3x distribution is {_fmt(3 * dist)} MB/s, above this disk's durable write "
            f"(`dd conv=fsync`, same size, same run) | {_cell(push['ocicache']['MB/s'])} | {DURABLE} "
            f"{_cell(push[DURABLE]['MB/s'])} | {ours / disk:.2f}x | (the disk's limit) | |"]


def medians_table(doc: dict) -> list[str]:
    results = doc["results"]
    _, table = sized(doc)
    servers = [s for s in ALL_SERVERS if any(s in w for w in results.values())]
    lines = ["| workload | metric | " + " | ".join(servers) + " |", "|---|---|" + "---|" * len(servers)]
    for workload, metrics in table:
        for metric in metrics:
            row = [_cell(results.get(workload, {}).get(s, {}).get(metric, [])) for s in servers]
            if any(row):
                lines.append(f"| {workload} | {metric} | " + " | ".join(row) + " |")
    return lines


RATIO_COLUMNS = [("ocicache", "nginx"), ("ocicache-copy", "nginx"), ("ocicache-tls", "nginx-tls"),
                 ("ocicache", "distribution"), ("ocicache-edge", "distribution-proxy")]


def ratios_table(doc: dict) -> list[str]:
    results = doc["results"]
    _, table = sized(doc)
    lines = ["| workload | metric | ocicache / nginx | ocicache-copy / nginx | ocicache-tls / nginx-tls | "
             "ocicache / distribution | edge / distribution's proxy |", "|---|---|---|---|---|---|---|"]
    for workload, metrics in table:
        for metric in metrics:
            if metric in ("origin GETs", "p99 ms"):
                continue
            higher = metric in HIGHER_IS_BETTER
            cells = []
            for ours, base in RATIO_COLUMNS:
                r = ratio(results, workload, metric, ours, [base], higher)
                cells.append("" if r is None else f"{(r[0] if higher else 1 / r[0]):.2f}x")
            if any(cells):
                lines.append(f"| {workload} | {metric} | " + " | ".join(cells) + " |")
    return lines


LEGEND = ("nginx: static files, `sendfile on` (the reference); nginx-copy: `sendfile off`; nginx-tls: "
          "HTTPS, `sendfile on`, the same certificate and cipher list as ocicache-tls (TLS 1.2 and 1.3). "
          "ocicache: the node's defaults (one worker per core, sendfile on); ocicache-copy: "
          "`OCICACHE_SERVER_SENDFILE=false`; ocicache-tls: the same data over HTTPS (`[tls] cert/key`); "
          "ocicache-edge: `--origin` = the distribution instance. distribution-proxy: distribution's "
          "`proxy.remoteurl` = the same instance. `docker pull`: a private dockerd (vfs), every image "
          "removed before each pull; cold = the proxy restarted with an empty store. Peak RSS: VmHWM "
          "summed over a server's processes during each repetition (reset at its start), the median of "
          "the repetitions (over-counts forked workers' shared pages; nginx's includes its HTTPS server).")


def markdown(doc: dict, level: str = "###", sources: list[str] | None = None) -> str:
    """A run's header (with where its raw `sources` are), targets, medians and ratios, and the
    push-through table when the run has one."""
    m, results = doc["machine"], doc["results"]
    lines = [*header(m)]
    if sources:
        lines.append(f"Raw results: {', '.join(f'`{s}`' for s in sources)} (every repetition; "
                     "`results.csv` beside each holds the same figures, one a line).")
    if any(w in results for w, _ in sized(doc)[1]):
        lines += ["", f"{level} Targets (ratio of medians; per-repetition ratios in brackets)", "",
                  *targets_table(doc), "", f"{level} Medians (min–max) of every workload", "",
                  *medians_table(doc), "", f"{level} Ratios against nginx and against distribution "
                  "(medians; > 1 means ocicache is better)", "", *ratios_table(doc), "", LEGEND]
    if pushed := push_through(doc):
        lines += ["", *pushed]
    if cpu := push_cpu(doc):
        lines += ["", *cpu]
    return "\n".join(lines) + "\n"


def charts(doc: dict, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = doc["results"]
    labels, values, goals = [], [], []
    for label, workload, metric, ours, bases, goal, higher in sized(doc)[0]:
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

    panels = [(named(doc["machine"], "blob {big}, 16 conns"), "MB/s"), ("blob 1 MiB, 64 conns", "req/s"),
              ("manifest by tag, 64 conns", "req/s"), ("manifest by digest, 64 conns", "req/s")]
    fig, axes = plt.subplots(1, len(panels), figsize=(16, 4.2))
    for ax, (workload, metric) in zip(axes, panels):
        w = results.get(workload, {})
        names = [s for s in ALL_SERVERS if s in w]
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


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("results", type=Path, help="a results.json written by bench.load.run")
    args = p.parse_args(argv)
    doc = json.loads(args.results.read_text())
    print(markdown(doc))
    if doc["machine"].get("workloads", "all") == "all":
        charts(doc, args.results.parent)


if __name__ == "__main__":
    main()
