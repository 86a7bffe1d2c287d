"""Raw results, tables and curves of the scale benchmarks (bench/scale.py, bench/scale_listings.py,
bench/scale_connections.py).

Every run writes `results.json` (every repetition) and `results.csv` (the same figures, one a
line) into its `--out` folder, in bench/load's schema: results[row][column][metric] = [one value
per repetition], a column being a size (blobs, names, connections) or a server. The tables of
docs/PERFORMANCE.md "How costs grow" are generated blocks (bench/load/sections.py kinds
`scale-store`, `scale-listings`, `scale-connections`) rebuilt from those files by
`make bench-tables`; `curves()` draws the PNGs beside them.
"""
from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from pathlib import Path

from bench.load.run import code_version, write_results

SIZE_NAMES = {10: "10", 1000: "1k", 10_000: "10k", 100_000: "100k", 1_000_000: "1M"}


def machine(notes: str = "") -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version(),
            "code": code_version(), "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "load average at start": os.getloadavg()[0], "notes": notes, "started": time.time()}


def finish(doc: dict, out: Path | None) -> None:
    """Close the run's record (load at the end, seconds in all) and write it with its CSV twin."""
    m = doc["machine"]
    m["load average at end"] = os.getloadavg()[0]
    m["run seconds"] = round(time.time() - m.pop("started", time.time()))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        write_results(out, doc)


def add(doc: dict, row: str, column: str, metric: str, value: float) -> None:
    doc["results"].setdefault(row, {}).setdefault(column, {}).setdefault(metric, []).append(value)


def size_name(column: str) -> str:
    return SIZE_NAMES.get(int(column), f"{int(column):,}") if column.isdigit() else column


def _num(x: float) -> str:
    if x >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}" if x >= 1 else f"{x:.2g}"


def cell(values: list[float] | None) -> str:
    if not values:
        return ""
    med = statistics.median(values)
    return _num(med) if len(values) == 1 else f"{_num(med)} ({_num(min(values))}–{_num(max(values))})"


def header(doc: dict, source: str) -> str:
    m = doc["machine"]
    reps = sorted({len(v) for cols in doc["results"].values() for metrics in cols.values() for v in metrics.values()})
    count = f"{reps[0]}" if len(reps) == 1 else f"{reps[0]} to {reps[-1]}"
    return (f"Run of {m['date']}: {count} repetitions of each figure, medians (min–max); {m['run seconds']} s in all. "
            f"Machine: {m['cpu']}, {m['cores']} cores, Linux {m['kernel']}, Python {m['python']}; 1-minute load "
            f"average {m['load average at start']:.2f} at the start, {m['load average at end']:.2f} at the end "
            f"(other work on the machine shows here). Code: commit {m['code']}."
            + (f" Notes: {m['notes']}." if m.get("notes") else "")
            + f" Raw results: `{source}` (`results.csv` beside it holds the same figures, one a line).\n")


def by_size(doc: dict, first: str) -> str:
    """One row per (row, metric), one column per size, and how the largest compares with the smallest."""
    columns = sorted({c for cols in doc["results"].values() for c in cols}, key=int)
    lines = [f"| {first} | metric | " + " | ".join(size_name(c) for c in columns) + " | largest / smallest |",
             "|---|---|" + "---|" * (len(columns) + 1)]
    for row, cols in doc["results"].items():
        for metric in next(iter(cols.values())):
            values = [cols.get(c, {}).get(metric) for c in columns]
            known = [v for v in values if v]
            growth = (f"{statistics.median(known[-1]) / statistics.median(known[0]):.2f}x"
                      if len(known) > 1 and statistics.median(known[0]) else "")
            lines.append(f"| {row} | {metric} | " + " | ".join(cell(v) for v in values) + f" | {growth} |")
    return "\n".join(lines) + "\n"


def by_server(doc: dict) -> str:
    """One row per (row, metric), one column per server (bench/scale_connections.py)."""
    servers = list(dict.fromkeys(s for cols in doc["results"].values() for s in cols))
    lines = ["| workload | metric | " + " | ".join(servers) + " |", "|---|---|" + "---|" * len(servers)]
    for row, cols in doc["results"].items():
        for metric in next(iter(cols.values())):
            lines.append(f"| {row} | {metric} | " + " | ".join(cell(cols.get(s, {}).get(metric)) for s in servers) + " |")
    return "\n".join(lines) + "\n"


def _block(docs: list[dict], sources: list[str], table) -> str:
    return "\n".join(header(d, s) + "\n" + table(d) for d, s in zip(docs, sources))


def store_block(docs: list[dict], sources: list[str]) -> str:
    return _block(docs, sources, lambda d: by_size(d, "blobs in the store"))


def listings_block(docs: list[dict], sources: list[str]) -> str:
    return _block(docs, sources, lambda d: by_size(d, "names (repositories, and tags of one repository)"))


def connections_block(docs: list[dict], sources: list[str]) -> str:
    return _block(docs, sources, by_server)


KINDS = {"scale-store": store_block, "scale-listings": listings_block, "scale-connections": connections_block}


def curves(doc: dict, out: Path, title: str, xlabel: str = "size") -> list[Path]:
    """One PNG per metric: each row's median against the size (log-log), min–max as error bars."""
    import matplotlib  # the test extras; only the benchmark draws
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    written = []
    metrics = list(dict.fromkeys(m for cols in doc["results"].values() for c in cols.values() for m in c))
    for metric in metrics:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for row, cols in doc["results"].items():
            points = sorted((int(c), v[metric]) for c, v in cols.items() if c.isdigit() and v.get(metric))
            if not points:
                continue
            xs = [p[0] for p in points]
            meds = [statistics.median(p[1]) for p in points]
            low = [m - min(p[1]) for m, p in zip(meds, points)]
            high = [max(p[1]) - m for m, p in zip(meds, points)]
            ax.errorbar(xs, meds, yerr=[low, high], marker="o", capsize=3, label=row)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(metric)
        ax.set_title(f"{title}: {metric} (median, min–max)", fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = out / f"{title.replace(' ', '-')}-{metric.replace('/', '-per-').replace(' ', '-')}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        written.append(path)
    return written
