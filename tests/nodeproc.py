"""Start and stop real `python -m ocicache serve` processes for tests and benchmarks."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import ssl
import urllib.error
import urllib.request
from pathlib import Path


_UNVERIFIED = ssl._create_unverified_context()  # test nodes use self-signed certificates


def stop_process(proc: subprocess.Popen | None, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; waits for the process either way."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NodeProcess:
    """One node on 127.0.0.1:<free port> with its own data dir and log file."""

    def __init__(self, data_dir: Path, *extra_args: str, env: dict[str, str] | None = None,
                 tls: bool = False) -> None:
        self.data_dir = Path(data_dir)
        self.scheme = "https" if tls else "http"
        self.extra_args = extra_args
        self.env = env
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.hostport}"

    def start(self, timeout: float = 20.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env.update(self.env or {})
        for attempt in range(3):
            self.port = free_port()
            log = open(self.log_path, "ab")
            workers = [] if "--workers" in self.extra_args else ["--workers", "1"]
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "ocicache", "serve", "--listen", self.hostport,
                 "--data-dir", str(self.data_dir), *workers, *self.extra_args],
                stdout=log, stderr=subprocess.STDOUT, env=env)
            log.close()
            if self._wait_up(timeout):
                return
            self.stop()
        raise RuntimeError(f"node did not start; log:\n{self.log_path.read_text()[-3000:]}")

    def _wait_up(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(self.url + "/v2/", timeout=1, context=_UNVERIFIED) as resp:
                    if resp.status == 200:
                        return True
            except urllib.error.HTTPError as exc:
                if exc.code == 401:  # up, with authentication on
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def peak_rss_bytes(self) -> int:
        """VmHWM of the node process (peak resident set size)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("VmHWM not found")

    def stop(self) -> None:
        stop_process(self.proc)
