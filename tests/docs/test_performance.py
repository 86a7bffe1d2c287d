"""The benchmark's published tables (README.md, docs/PERFORMANCE.md) are what bench/load/sections.py
makes from the committed raw results: a table typed or edited by hand, or raw results changed
without regenerating, fails here. Also: the raw results are tracked by git, hold every
repetition (at least 3 for each figure), and their CSV twin holds the same figures."""
from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest

from bench.load.sections import ROOT, blocks, regenerate

DOCS = ["README.md", "docs/PERFORMANCE.md"]
MIN_REPETITIONS = 3


@pytest.mark.parametrize("doc", DOCS)
def test_generated_tables_match_the_committed_raw_results(doc):
    text = (ROOT / doc).read_text()
    assert blocks(text), f"{doc} has no '<!-- BEGIN generated: ... -->' block (the benchmark tables)"
    regenerated = regenerate(text)
    if regenerated != text:
        diff = [f"- {a}\n+ {b}" for a, b in zip(text.splitlines(), regenerated.splitlines()) if a != b]
        pytest.fail(f"{doc}: generated tables differ from `python -m bench.load.sections {doc}`'s; "
                    "first differences:\n" + "\n".join(diff[:5]))


def test_readme_table_comes_from_the_full_run():
    kinds = dict((kind, sources) for kind, sources in blocks((ROOT / "README.md").read_text()))
    assert "readme" in kinds, "README.md's performance table is not a generated block"
    assert "docs/performance/load/results.json" in kinds["readme"]


def _sources() -> list[str]:
    return sorted({s for doc in DOCS for _, sources in blocks((ROOT / doc).read_text()) for s in sources})


def test_raw_results_are_committed_with_every_repetition_and_a_csv_twin():
    sources = _sources()
    assert sources
    tracked = subprocess.run(["git", "ls-files", "--", *sources], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    assert sorted(tracked) == sources, f"raw results not tracked by git: {sorted(set(sources) - set(tracked))}"
    for source in sources:
        path = ROOT / source
        results = json.loads(path.read_text())["results"]
        figures = {(w, s, m): v for w, servers in results.items() for s, metrics in servers.items()
                   for m, v in metrics.items()}
        few = {k: len(v) for k, v in figures.items() if len(v) < MIN_REPETITIONS}
        assert not few, f"{source}: fewer than {MIN_REPETITIONS} repetitions for {few}"
        rows = list(csv.DictReader(Path(path.with_name("results.csv")).open()))
        from_csv: dict = {}
        for row in rows:
            from_csv.setdefault((row["workload"], row["server"], row["metric"]), []).append(float(row["value"]))
        assert from_csv == figures, f"{path.with_name('results.csv')} does not hold the figures of {source}"
