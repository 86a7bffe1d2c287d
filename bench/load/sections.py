"""Generated blocks in markdown files: the benchmark's tables, made from committed raw results,
never typed by hand.

    .venv/bin/python -m bench.load.sections README.md docs/PERFORMANCE.md   # rewrite every block

A block is the text between

    <!-- BEGIN generated: <kind> from <results.json> [<results.json> ...] -->
    <!-- END generated -->

rebuilt from the results files named in its first line (paths from the repository root).
Kinds: `tables` (a run's header, targets, medians and ratios; the push-through table when the
run has one), `readme` (the README's summary table and the sentence before it; several
results files are merged, workload by workload), and the scale benchmarks' `scale-store`,
`scale-listings`, `scale-connections` (bench/scale_report.py). tests/docs/test_performance.py checks that
every block holds what this module would write.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

from .report import markdown, named, ratio
from ..scale_report import KINDS as SCALE_KINDS

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"<!-- BEGIN generated: (?P<kind>[\w-]+) from (?P<sources>[^>]+?) -->\n"
                   r"(?P<body>.*?)<!-- END generated -->", re.S)


def merged(docs: list[dict]) -> dict:
    """Several runs' results as one: the first run's machine record wins, results are joined."""
    machine, results = {}, {}
    for doc in reversed(docs):
        machine.update(doc["machine"])
        results.update(doc["results"])
    return {"machine": machine, "results": results}


def _med(doc: dict, workload: str, server: str, metric: str):
    values = doc["results"].get(workload, {}).get(server, {}).get(metric)
    return statistics.median(values) if values else None


def _x(r) -> str:
    return f"{r:.0f}x" if r >= 10 else f"{r:.2f}x"


def _num(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _faster(doc: dict, workload: str, metric: str, ours: str, base: str) -> str | None:
    """ours/base as "1.23x" (higher is better) or None when the run lacks either."""
    r = ratio(doc["results"], workload, metric, ours, [base], True)
    return None if r is None else _x(r[0])


def readme_rows(doc: dict) -> list[tuple[str, str, str]]:
    """(what, ocicache, ratio) rows of the README table, those the results have."""
    m, rows = doc["machine"], []
    w = lambda t: named(m, t)  # noqa: E731
    tag, dig = (w("manifest by tag, 64 conns"), w("manifest by digest, 64 conns"))
    for who, ours, base, peer in (("manifest by tag / by digest, 64 connections", "ocicache", "distribution",
                                   "distribution"),
                                  ("as an edge, manifest by tag / by digest", "ocicache-edge",
                                   "distribution-proxy", "distribution's proxy")):
        if _med(doc, tag, ours, "req/s") and _med(doc, tag, base, "req/s"):
            rows.append((who, f"{_num(_med(doc, tag, ours, 'req/s'))} / {_num(_med(doc, dig, ours, 'req/s'))} req/s",
                         f"{_faster(doc, tag, 'req/s', ours, base)} / {_faster(doc, dig, 'req/s', ours, base)} "
                         f"{peer}"))
    for label, workload, metric in (("warm {big} blob, 16 connections", "blob {big}, 16 conns", "MB/s"),
                                    ("1 MiB blob, 64 connections", "blob 1 MiB, 64 conns", "req/s")):
        if _med(doc, w(workload), "ocicache", metric):
            rows.append((w(label), f"{_num(_med(doc, w(workload), 'ocicache', metric))} {metric}",
                         f"{_faster(doc, w(workload), metric, 'ocicache', 'nginx')} nginx (sendfile on), "
                         f"{_faster(doc, w(workload), metric, 'ocicache', 'distribution')} distribution"))
    small, big = "blob 1 MiB, 64 conns, TLS", w("blob {big}, 16 conns, TLS")
    if _med(doc, small, "ocicache-tls", "req/s"):
        rows.append((w("over TLS: 1 MiB blob, 64 connections / {big}, 16 connections"),
                     f"{_num(_med(doc, small, 'ocicache-tls', 'req/s'))} req/s / "
                     f"{_num(_med(doc, big, 'ocicache-tls', 'MB/s'))} MB/s",
                     f"{_faster(doc, small, 'req/s', 'ocicache-tls', 'nginx-tls')} / "
                     f"{_faster(doc, big, 'MB/s', 'ocicache-tls', 'nginx-tls')} nginx with TLS"))
    rows += _slower_rows(doc)
    return rows


def _slower_rows(doc: dict) -> list[tuple[str, str, str]]:
    """Cold misses, pushes, docker pulls and memory."""
    m, rows = doc["machine"], []
    w = lambda t: named(m, t)  # noqa: E731
    cold8, cold1 = w("cold {big} miss, 8 clients"), w("cold {big} miss, 1 client")
    if _med(doc, cold8, "ocicache-edge", "total s"):
        gets = lambda s: _med(doc, cold8, s, "origin GETs")  # noqa: E731
        rows.append((w("cold {big} miss, 8 clients at once, as an edge"),
                     f"{gets('ocicache-edge'):g} origin GET{'s' * (gets('ocicache-edge') != 1)}, {_num(_med(doc, cold8, 'ocicache-edge', 'total s'))} s",
                     f"distribution's proxy: {gets('distribution-proxy'):g} GETs, "
                     f"{_num(_med(doc, cold8, 'distribution-proxy', 'total s'))} s"))
        r = _med(doc, cold1, "ocicache-edge", "total s") / _med(doc, cold1, "distribution-proxy", "total s")
        rows.append((w("cold {big} miss, 1 client, as an edge"),
                     f"{_num(_med(doc, cold1, 'ocicache-edge', 'total s'))} s", f"{_x(r)} distribution's proxy's time"))
    push = w("push {big}, monolithic")
    if _med(doc, push, "ocicache", "MB/s"):
        rows.append((w("monolithic push of {big} (fsynced)"), f"{_num(_med(doc, push, 'ocicache', 'MB/s'))} MB/s",
                     f"{_faster(doc, push, 'MB/s', 'ocicache', 'distribution')} distribution"))
    cold, warm = w("docker pull {image}, cold"), w("docker pull {image}, warm")
    if _med(doc, cold, "ocicache-edge", "s"):
        times = [(_med(doc, x, "ocicache-edge", "s"), _med(doc, x, "distribution-proxy", "s")) for x in (cold, warm)]
        rows.append((w("`docker pull` ({image}) through an edge, cold / warm"),
                     " / ".join(f"{_num(o)} s" for o, _ in times),
                     " / ".join(_x(o / p) for o, p in times) + " distribution's proxy's time"))
    if _med(doc, "peak RSS", "ocicache", "MiB"):
        rss = _med(doc, "peak RSS", "ocicache", "MiB")
        rows.append(("peak RSS (parent + 2 workers)", f"{_num(rss)} MiB",
                     f"{_x(rss / _med(doc, 'peak RSS', 'distribution', 'MiB'))} distribution"))
    return rows


def _run(doc: dict, source: str) -> str:
    m = doc["machine"]
    reps = sorted({len(v) for w in doc["results"].values() for s in w.values() for v in s.values()})
    counts = f"{reps[0]}" if len(reps) == 1 else f"{reps[0]} to {reps[-1]}"
    what = "every workload" if m.get("workloads", "all") == "all" else f"the {m['workloads']} workload"
    return (f"`{source}` ({what}, {m['date']}, commit {m['code']}, {counts} repetition{'s' * (reps[-1] > 1)}"
            + (f"; {m['notes'].split('. ')[0].rstrip('.')}" if m.get("notes") else "") + ")")


def readme(docs: list[dict], sources: list[str]) -> str:
    doc = merged(docs)
    lines = [f"`make bench-load` on a shared {doc['machine']['cores']}-core VM, every figure against peers "
             "measured in the same run; medians (every repetition in the raw results, the spread and what "
             "bounds each figure in [docs/PERFORMANCE.md](docs/PERFORMANCE.md)). Runs: "
             + "; ".join(_run(d, s) for d, s in zip(docs, sources)) + ".",
             "", "| | ocicache | ratio |", "|---|---|---|"]
    lines += [f"| {what} | {ours} | {r} |" for what, ours, r in readme_rows(doc)]
    return "\n".join(lines) + "\n"


def tables(docs: list[dict], sources: list[str]) -> str:
    return markdown(merged(docs), "####", sources)


KINDS = {"tables": tables, "readme": readme, **SCALE_KINDS}  # scale-*: bench/scale_report.py


class BlockError(RuntimeError):
    """A generated block that cannot be made: unknown kind, or a results file that is missing."""


def render(kind: str, sources: list[str], root: Path = ROOT) -> str:
    if kind not in KINDS:
        raise BlockError(f"generated block of unknown kind {kind!r} (known: {', '.join(KINDS)})")
    missing = [s for s in sources if not (root / s).is_file()]
    if missing:
        raise BlockError(f"{', '.join(missing)}: named by a generated {kind} block but not found; publish "
                         "a run there (bench.load.run --out <its folder>) or name another results file")
    return KINDS[kind]([json.loads((root / s).read_text()) for s in sources], sources)


def regenerate(text: str, root: Path = ROOT) -> str:
    """`text` with every generated block rebuilt from its sources."""
    def block(b: re.Match) -> str:
        kind, sources = b.group("kind"), b.group("sources")
        return f"<!-- BEGIN generated: {kind} from {sources} -->\n{render(kind, sources.split(), root)}" \
               "<!-- END generated -->"
    return BLOCK.sub(block, text)


def blocks(text: str) -> list[tuple[str, list[str]]]:
    return [(b.group("kind"), b.group("sources").split()) for b in BLOCK.finditer(text)]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="rewrite the generated blocks of markdown files from their results")
    p.add_argument("files", nargs="+", type=Path)
    for path in p.parse_args(argv).files:
        text = path.read_text()
        if not blocks(text):
            raise SystemExit(f"{path}: no '<!-- BEGIN generated: <kind> from <results.json> -->' block")
        try:
            path.write_text(regenerate(text))
        except BlockError as exc:
            raise SystemExit(f"{path}: {exc}") from None


if __name__ == "__main__":
    main()
