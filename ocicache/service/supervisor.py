"""The parent of several workers once they listen: a fresh interpreter that holds none of the
node's libraries (issue 18).

The parent imports the whole node before it forks, so that its workers share those pages; once
every worker listens it needs none of them, yet it would keep them resident (58 MiB measured, the
largest of a node's three processes). So workers.run_workers replaces its image with this module
(execve: same PID, same children, the signals it was sent in between kept pending), which runs
a bare interpreter: it forwards SIGTERM/SIGINT/SIGHUP to the workers, reaps them, drops a dead
worker's live gauges, and exits with the worst exit status (`exit_status`). The pages the
workers inherited stay shared between them.

    python -c BOOTSTRAP <package root> <worst exit code so far> <log level> <log format> <worker pid>...

Its imports: the standard library, this package's notify.py, and ocicache/logline.py (its rare
lines, in the node's format); ocicache.metrics (prometheus-client) is imported by name only when
a worker ends before the node stops.
"""
from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
from pathlib import Path

from ..logline import LineFormatter
from . import notify

log = logging.getLogger("ocicache")
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
METRICS_MODULE = f"{__package__.rsplit('.', 1)[0]}.metrics"
"""ocicache.metrics, imported by name when a worker has ended (to drop its live gauges)."""
BOOTSTRAP = ("import sys; sys.path.insert(0, sys.argv[1]); "
             "from ocicache.service.supervisor import main; raise SystemExit(main(sys.argv[2:]))")
"""The interpreter's program: this module, from the package root the node itself was loaded from
(not whatever `ocicache` the current directory holds)."""


def exit_status(code: int | None) -> int:
    """A worker's exit code as the node reports it: 0-255 as it is, a worker killed by signal N
    (the negative code multiprocessing and os.waitstatus_to_exitcode give) as 128 + N, the
    shell's convention. So a node whose workers were killed (the OOM killer's SIGKILL: 137)
    exits non-zero, and systemd's `Restart=on-failure` starts it again."""
    code = code or 0
    return 128 - code if code < 0 else code


def forward(signum: int, pids) -> None:
    """Pass a signal the node's parent received on to its workers: SIGHUP as it is (reload),
    SIGTERM and SIGINT as SIGTERM (a graceful stop, which systemd is told of: STOPPING=1). A
    worker already gone is skipped (its parent reaps it)."""
    if signum != signal.SIGHUP:
        notify.stopping()
    for pid in pids:
        try:
            os.kill(pid, signal.SIGHUP if signum == signal.SIGHUP else signal.SIGTERM)
        except ProcessLookupError:
            pass


def become(pids: list[int], worst: int, level: str, fmt: str) -> None:
    """Replace this process's image with the supervisor of `pids` (never returns). Called in the
    parent with the forwarded signals blocked, so none is lost or acted on by a default handler
    before main() installs its own; the blocked set survives execve."""
    root = Path(__file__).resolve().parents[2]
    for handler in logging.getLogger().handlers:  # what the parent logged: execve skips atexit
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-c", BOOTSTRAP, str(root), str(worst), level, fmt,
                               *map(str, pids)])


def main(argv: list[str]) -> int:
    """Supervise the worker pids in argv[3:] until all have ended; returns the worst of their exit
    statuses (`exit_status`) and argv[0]. Once a stop was forwarded, a worker ended by that
    SIGTERM (one still starting, before its handler) ended as asked: 0."""
    worst, level, fmt, *rest = argv
    worst = int(worst)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(LineFormatter(fmt))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    pids = {int(pid) for pid in rest}
    stopping = False

    def on_signal(signum, _frame) -> None:
        nonlocal stopping
        stopping = stopping or signum != signal.SIGHUP
        forward(signum, pids)

    for signum in FORWARDED:
        signal.signal(signum, on_signal)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    while pids:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:  # reaped before the execve: run_workers passes only those it was not
            log.error("ocicache %d: workers %s are gone, their exit codes unknown", os.getpid(), sorted(pids))
            return max(worst, 1)
        if pid not in pids:
            continue
        pids.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        if stopping and code == -signal.SIGTERM:
            code = 0  # the stop this process forwarded, reaching a worker before its handler
        worst = max(worst, exit_status(code))
        if code != 0:
            _ended_badly(pid, code, len(pids), worst)
        if pids:  # the others still serve: the dead worker's gauges must no longer count
            importlib.import_module(METRICS_MODULE).worker_exited(pid)
    return worst


def _ended_badly(pid: int, code: int, left: int, worst: int) -> None:
    """One ERROR line for a worker that did not end cleanly: how, and what the node does now."""
    if code < 0:
        try:
            how = f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"was killed by signal {-code}"
        if code == -signal.SIGKILL:
            how += " (the kernel's OOM killer sends it: see `journalctl -k | grep -i oom`)"
    else:
        how = f"exited with code {code} (its last log lines say why)"
    then = (f"{left} worker{'s' if left != 1 else ''} still serving; restart the node (`systemctl restart "
            f"ocicache`) to run all of them again" if left else
            f"no worker is left: the node exits with status {worst} (under systemd, "
            f"`Restart=on-failure` starts it again)")
    log.error("ocicache %d: worker %d %s; %s", os.getpid(), pid, how, then)

