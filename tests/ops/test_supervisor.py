"""The parent of several workers becomes a bare supervisor once they listen (service/supervisor.py,
issue 18): the same PID holding none of the node's libraries, which still forwards signals, drops
a dead worker's live gauges and exits with the workers' worst code."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ocicache.service import supervisor

from ..nodeproc import NodeProcess, free_port, stop_process
from ..ocisync import request
from .test_service import NotifySocket

NODE_LIBRARIES = ("aiohttp", "uvloop", "prometheus_client", "multidict", "yarl")


def children(pid: int) -> list[int]:
    return sorted(int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())


def mapped_files(pid: int) -> set[str]:
    return {line.split()[5] for line in Path(f"/proc/{pid}/maps").read_text().splitlines() if len(line.split()) > 5}


def wait_gone(pids: list[int], timeout: float = 30.0) -> list[int]:
    """The pids still running (not even a zombie) after waiting up to `timeout` s for them to end."""
    deadline = time.monotonic() + timeout
    left = list(pids)
    while left and time.monotonic() < deadline:
        left = [p for p in left if os.path.exists(f"/proc/{p}") and "zombie" not in Path(f"/proc/{p}/status").read_text()]
        time.sleep(0.05)
    return left


def cmdline_when_execed(pid: int, timeout: float = 30.0) -> str:
    """The command line of `pid` once it shows the supervisor (the node answers HTTP a moment
    before its parent's execve is done: the workers listen first), or the last one read."""
    deadline = time.monotonic() + timeout
    text = Path(f"/proc/{pid}/cmdline").read_text()
    while "ocicache.service.supervisor" not in text and time.monotonic() < deadline:
        time.sleep(0.05)
        text = Path(f"/proc/{pid}/cmdline").read_text()
    return text


def test_the_parent_holds_none_of_the_node_libraries_and_stops_the_node(tmp_path):
    node = NodeProcess(tmp_path / "node", "--workers", "2")
    node.start()
    try:
        parent = node.proc.pid
        assert "ocicache.service.supervisor" in cmdline_when_execed(parent)
        workers = children(parent)
        assert len(workers) == 2
        files = mapped_files(parent)
        assert not [f for f in files if any(f"/{lib}/" in f for lib in NODE_LIBRARIES)], sorted(files)
        for worker in workers:  # the workers still hold them: the check would see them
            assert any("/aiohttp/" in f for f in mapped_files(worker))
        for _ in range(20):
            assert request(node.url, "GET", "/v2/")[0] == 200
        node.proc.send_signal(signal.SIGTERM)
        assert node.proc.wait(30) == 0
        assert wait_gone(workers) == []
    finally:
        node.stop()


def test_a_killed_worker_leaves_the_other_serving_and_its_live_gauges_are_dropped(tmp_path):
    node = NodeProcess(tmp_path / "node", "--workers", "2")
    node.start()
    try:
        assert "ocicache.service.supervisor" in cmdline_when_execed(node.proc.pid)
        killed, other = children(node.proc.pid)
        gauge = tmp_path / "node" / "metrics" / f"gauge_livesum_{killed}.db"
        gauge.write_bytes(b"")  # what a worker with fills in flight holds
        os.kill(killed, signal.SIGKILL)
        assert wait_gone([killed]) == []
        deadline = time.monotonic() + 30
        while gauge.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not gauge.exists()
        assert children(node.proc.pid) == [other]
        for _ in range(20):  # new connections go to the listener left
            assert request(node.url, "GET", "/v2/")[0] == 200
        node.proc.send_signal(signal.SIGTERM)
        assert node.proc.wait(30) == 128 + signal.SIGKILL  # the killed worker's status: the unit shows it failed
        assert wait_gone([other]) == []
    finally:
        node.stop()
    line = next(json.loads(ln) for ln in node.log_path.read_text().splitlines()
                if ln.startswith("{") and f"worker {killed} was killed" in ln)
    assert line["level"] == "error"
    assert "SIGKILL" in line["msg"] and "OOM" in line["msg"] and "1 worker still serving" in line["msg"], line


def test_a_node_whose_workers_are_all_killed_exits_non_zero(tmp_path):
    """The OOM killer's SIGKILL to every worker: the node ends by itself with 137, so systemd's
    Restart=on-failure starts it again (a 0 would leave the node down)."""
    node = NodeProcess(tmp_path / "node", "--workers", "2")
    node.start()
    try:
        assert "ocicache.service.supervisor" in cmdline_when_execed(node.proc.pid)
        workers = children(node.proc.pid)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        assert node.proc.wait(30) == 128 + signal.SIGKILL
    finally:
        node.stop()
    assert "no worker is left: the node exits with status 137" in node.log_path.read_text()


def test_exit_status_reports_a_signal_as_the_shell_does():
    assert [supervisor.exit_status(c) for c in (None, 0, 1, 3, -9, -15)] == [0, 0, 1, 3, 137, 143]


def test_a_sigterm_sent_as_the_node_reports_ready_stops_it(tmp_path):
    """READY=1 leaves the parent just before it replaces its image: a SIGTERM then is kept pending
    for the supervisor, not lost (the node would run on) nor fatal (workers orphaned to PDEATHSIG)."""
    notify = NotifySocket()
    port = free_port()
    with open(tmp_path / "node.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ocicache", "serve", "--listen", f"127.0.0.1:{port}",
                                 "--data-dir", str(tmp_path / "node"), "--workers", "2"],
                                stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NOTIFY_SOCKET": notify.name})
    try:
        notify.wait_for("READY=1")
        proc.send_signal(signal.SIGTERM)  # no wait for HTTP: the parent is about to exec
        workers = children(proc.pid)
        assert "STOPPING=1" in notify.wait_for("STOPPING=1")
        assert proc.wait(30) == 0, (tmp_path / "node.log").read_text()[-2000:]
        assert wait_gone(workers) == []
    finally:
        stop_process(proc)
