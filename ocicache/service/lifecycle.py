"""The node as a service: start-up, readiness, signals and graceful shutdown.

- Before any worker starts (`prepare`): JSON logs on stdout, and the shared metrics folder
  <data_dir>/metrics emptied and shared by every worker (metrics.share_across_processes).
- Ready: a lone process tells systemd `READY=1` once it listens; with several workers
  each tells the parent through a pipe and the parent tells systemd when all listen.
- SIGTERM/SIGINT: `STOPPING=1`; stop accepting, let requests in flight finish within
  `[ops] shutdown_timeout`, then cut what is left and exit.
- SIGHUP: reload the configuration in place (service/reload.py); connections stay open.
"""
from __future__ import annotations

import asyncio
import logging
import os
import select
import shutil
import signal
import time
from typing import Callable

from aiohttp import web

from .. import metrics
from ..config import Config
from . import logs, notify, reload

log = logging.getLogger("ocicache")
_loader: Callable[[], Config] | None = None
_ready_pipe: tuple[int, int] | None = None


def prepare(cfg: Config, loader: Callable[[], Config] | None) -> None:
    """In the parent, before workers fork; `loader` re-reads the configuration on SIGHUP."""
    global _loader
    _loader = loader
    logs.setup(cfg.log.level, cfg.log.format)
    metrics_dir = cfg.data_path / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    metrics.share_across_processes(metrics_dir)


def expect_workers() -> None:
    """Before forking workers: they report 'listening' through this pipe."""
    global _ready_pipe
    _ready_pipe = os.pipe()


def wait_workers_ready(procs: list, timeout: float = 60.0) -> None:
    """In the parent: READY=1 once every worker listens (or say which did not)."""
    assert _ready_pipe is not None
    read_fd, write_fd = _ready_pipe
    os.close(write_fd)
    pending, deadline, buf = len(procs), time.monotonic() + timeout, b""
    while pending and time.monotonic() < deadline and any(p.is_alive() for p in procs):
        if select.select([read_fd], [], [], 0.2)[0]:
            chunk = os.read(read_fd, 64)
            if not chunk:
                break
            buf += chunk
            pending = len(procs) - buf.count(b"\n")
    os.close(read_fd)
    if pending:
        log.error("%d of %d workers did not start listening; see their errors above", pending, len(procs))
        return
    notify.ready(f"serving with {len(procs)} workers")


def _listening(cfg: Config) -> None:
    if _ready_pipe is not None:  # a worker: the parent notifies systemd
        os.write(_ready_pipe[1], b"%d\n" % os.getpid())
        os.close(_ready_pipe[1])
    else:
        notify.ready(f"serving on {cfg.server.listen}")


async def serve_until_stopped(runner: web.AppRunner, app: web.Application, cfg: Config) -> None:
    """After the site listens: handle signals, report ready, shut down gracefully. The handlers
    come first: a SIGTERM sent as soon as the node reports ready stops this worker gracefully
    instead of killing it by the signal's default action."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, _reload, app, _ready_pipe is None)
    _listening(cfg)
    await stop.wait()
    if _ready_pipe is None:
        notify.stopping()
    log.info("ocicache %d stopping: no new connections; waiting up to %.0f s for requests in flight",
             os.getpid(), cfg.ops.shutdown_timeout)
    started = time.monotonic()
    await runner.cleanup()
    log.info("ocicache %d stopped after %.1f s", os.getpid(), time.monotonic() - started)


def _reload(app: web.Application, tell_systemd: bool) -> None:
    if _loader is None:
        log.warning("SIGHUP ignored: this process has no configuration loader")
        return
    if tell_systemd:
        notify.reloading()
    reload.reload(app, _loader)
    if tell_systemd:
        notify.ready("serving (reloaded)")

