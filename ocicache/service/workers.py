"""Process supervision: several worker processes sharing the node's port (SO_REUSEPORT).

The parent forks `count` workers, forwards SIGTERM/SIGINT/SIGHUP to them, tells systemd
READY=1 once all of them listen (lifecycle.wait_workers_ready), and returns the worst exit
code when they are gone. A worker gets SIGTERM when the parent dies (Linux PR_SET_PDEATHSIG),
so a node killed with SIGKILL leaves no orphan workers on its port.
"""
from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from typing import Callable

from .. import metrics
from . import lifecycle

PR_SET_PDEATHSIG = 1


def run_workers(count: int, serve: Callable[[], None]) -> int:
    """Run `serve()` in `count` forked workers until they all end; returns the worst exit code."""
    ctx = multiprocessing.get_context("fork")
    lifecycle.expect_workers()
    procs = [ctx.Process(target=_worker, args=(serve, os.getpid()), name=f"ocicache-worker-{i}")
             for i in range(count)]
    for proc in procs:
        proc.start()

    def forward(signum, _frame):
        lifecycle.parent_signal(signum)
        for proc in procs:
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGHUP if signum == signal.SIGHUP else signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, forward)
    lifecycle.wait_workers_ready(procs)
    for proc in procs:
        proc.join()
        metrics.worker_exited(proc.pid)
    return max((proc.exitcode or 0) for proc in procs)


def _worker(serve: Callable[[], None], parent: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: workers outlive a killed parent
    if os.getppid() != parent:
        os._exit(1)  # the parent died before the request took effect
    serve()
