"""Process supervision: several worker processes sharing the node's port (SO_REUSEPORT).

The parent forks `count` workers, forwards SIGTERM/SIGINT/SIGHUP to them, tells systemd
READY=1 once all of them listen (lifecycle.wait_workers_ready), then becomes the supervisor
(service/supervisor.py: the same PID in a bare interpreter, which goes on forwarding signals and
exits with the worst exit status when the workers are gone, a signal counting as 128 + its
number), so that it no longer holds the node's modules the workers use. A worker gets SIGTERM
when the parent dies (Linux PR_SET_PDEATHSIG),
so a node killed with SIGKILL leaves no orphan workers on its port.
"""
from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
from typing import Callable

from .. import metrics
from . import lifecycle, supervisor

log = logging.getLogger("ocicache")
PR_SET_PDEATHSIG = 1


def run_workers(count: int, serve: Callable[[], None], log_level: str = "INFO", log_format: str = "json") -> int:
    """Run `serve()` in `count` forked workers until they all end; the worst exit code. Once they
    listen the parent becomes the supervisor, which exits with that code itself (it returns here
    only if that execve fails, or when every worker has already ended)."""
    ctx = multiprocessing.get_context("fork")
    lifecycle.expect_workers()
    procs = [ctx.Process(target=_worker, args=(serve, os.getpid()), name=f"ocicache-worker-{i}")
             for i in range(count)]
    for proc in procs:
        proc.start()

    def on_signal(signum, _frame):
        supervisor.forward(signum, [proc.pid for proc in procs if proc.is_alive()])

    for signum in supervisor.FORWARDED:
        signal.signal(signum, on_signal)
    lifecycle.wait_workers_ready(procs)
    _become_supervisor(procs, log_level, log_format)
    for proc in procs:
        proc.join()
        metrics.worker_exited(proc.pid)
    return max(supervisor.exit_status(proc.exitcode) for proc in procs)


def _become_supervisor(procs: list, log_level: str, log_format: str) -> None:
    """Hand the workers still running to service/supervisor.py (never returns), with what those
    already ended (reaped by multiprocessing, so the supervisor cannot wait for them) left: their
    worst exit code. Returns when none is running, or when execve fails (logged)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, supervisor.FORWARDED)  # pending until it handles them
    running = [proc.pid for proc in procs if proc.exitcode is None]
    ended = [proc for proc in procs if proc.exitcode is not None]
    try:
        if running:
            for proc in ended:
                metrics.worker_exited(proc.pid)
            supervisor.become(running, max([supervisor.exit_status(proc.exitcode) for proc in ended], default=0),
                              log_level, log_format)
    except OSError as exc:
        log.warning("ocicache %d: cannot start the supervisor (%s); this process supervises the "
                    "workers itself, holding the node's modules", os.getpid(), exc.strerror or exc)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, supervisor.FORWARDED)


def _worker(serve: Callable[[], None], parent: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: workers outlive a killed parent
    if os.getppid() != parent:
        os._exit(1)  # the parent died before the request took effect
    serve()
