"""One `python -m ocicache serve` inside a fleet namespace, on <address>:5000, with its own data
dir and log file (stdout: the start-up line and one JSON access line per request)."""
from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from ..nodeproc import stop_process
from ..ocisync import request
from .netns import Fabric, die_with_parent
from .topology import PORT

REPO = Path(__file__).resolve().parents[2]


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The harness's environment without S3 or node settings of its own, plus `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "OCICACHE_", "PROMETHEUS_MULTIPROC"))}
    return {**env, **extra}


def http(fabric: Fabric, ns: str, url: str, method: str = "GET", timeout: float = 5) -> tuple[int, bytes]:
    """(status, body) of one plain request sent from namespace `ns`."""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}"
    status, _headers, body = fabric.call(ns, request, base, method, parts.path or "/", timeout=timeout)
    return status, body


def _epoch(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


@dataclass
class Node:
    fabric: Fabric
    role: str
    region: str
    ns: str
    address: str
    origin: str
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.address}:{PORT}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.role}.log"

    def launch(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = self.fabric.argv(self.ns, sys.executable, "-m", "ocicache", "serve", "--listen",
                                f"{self.address}:{PORT}", "--data-dir", str(self.data_dir), "--workers", "1",
                                "--origin", self.origin)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=clean_env(self.env), cwd=REPO, preexec_fn=die_with_parent)

    def wait_up(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if http(self.fabric, self.ns, self.url + "/v2/", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.role} ({self.url}, origin {self.origin}) did not start; "
                           f"its log:\n{self.log_path.read_text(errors='replace')[-3000:]}")

    def start(self) -> None:
        self.launch()
        self.wait_up()

    def kill(self) -> float:
        """SIGKILL (a crashed host); the time it was sent."""
        sent = time.time()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return sent

    def stop(self) -> None:
        stop_process(self.proc, grace=5)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def requests(self, since: float = 0.0) -> list[dict]:
        """Access-log lines (parsed) of requests that ended at or after `since` (epoch seconds);
        each gains `t` (epoch seconds)."""
        out = []
        if not self.log_path.exists():
            return out
        for line in self.log_path.read_text(errors="replace").splitlines():
            if not line.startswith("{") or '"route"' not in line:
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line cut by SIGKILL
            if "route" in entry and "time" in entry:
                entry["t"] = _epoch(entry["time"])
                if entry["t"] >= since:
                    out.append(entry)
        return out

    def metrics(self) -> str:
        status, body = http(self.fabric, self.ns, self.url + "/metrics")
        if status != 200:
            raise RuntimeError(f"{self.role}: GET /metrics answered {status}")
        return body.decode()
