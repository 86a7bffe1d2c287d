"""The push-through benchmark's CPU table (bench/load/report.py `push_cpu`): the ceiling that the
CPU of a push through the edge sets on the machine's cores, and the table's absence for runs
that did not measure CPU."""
from __future__ import annotations

import os

from bench.load.pushthrough import BLOB_MONOLITHIC, CPU_METRICS
from bench.load.report import push_cpu
from bench.load.servers import tree_thread_cpu_seconds


def _run(direct: dict, through: dict, cores: int = 2) -> dict:
    return {"machine": {"cores": cores, "push-through blob MiB": 64},
            "results": {BLOB_MONOLITHIC: {"ocicache": {m: [v] * 3 for m, v in direct.items()},
                                          "edge of ocicache": {m: [v] * 3 for m, v in through.items()}}}}


def _row(lines: list[str], path: str) -> list[str]:
    return [cell.strip() for cell in next(line for line in lines if f"| {path} |" in line).strip("|").split("|")]


def test_the_ceiling_is_the_direct_wall_time_over_the_edge_paths_cpu_per_core():
    direct = {"origin CPU ms": 180, "edge CPU ms": 0, "client CPU ms": 20, "wall ms": 160}
    through = {"origin CPU ms": 180, "edge CPU ms": 200, "client CPU ms": 20, "wall ms": 250}
    lines = push_cpu(_run(direct, through))
    assert _row(lines, "through the edge")[-1] == f"{160 * 2 / 400:.2f}x"
    assert _row(lines, "through the edge")[-2] == f"{400 / 250:.2f}"  # cores busy
    assert _row(lines, "direct")[-2] == f"{200 / 160:.2f}" and _row(lines, "direct")[-1] == ""
    # the same pushes on four cores allow twice as much
    assert _row(push_cpu(_run(direct, through, cores=4)), "through the edge")[-1] == f"{160 * 4 / 400:.2f}x"


def test_a_run_without_cpu_figures_has_no_cpu_table():
    partial = {m: 1.0 for m in CPU_METRICS if m != "edge CPU ms"}
    assert push_cpu(_run(partial, partial)) == []


def test_tree_cpu_seconds_counts_this_process_threads_on_the_cpu():
    before = tree_thread_cpu_seconds(os.getpid())
    deadline = os.times().user + 0.05
    while os.times().user < deadline:
        pass
    assert tree_thread_cpu_seconds(os.getpid()) - before >= 0.04
