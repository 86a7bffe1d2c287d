"""The servers under test, each on 127.0.0.1:<free port> with its own folder and log.

nginx (static files, sendfile on and off), CNCF distribution (Debian `docker-registry`)
directly and in its proxy mode, and ocicache as a registry and as an edge in front of
distribution. Every `start()` is paired with a `stop()` that the runner calls in `finally`.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.nodeproc import NodeProcess, free_port


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers (nginx says 404 on /)
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answered {url} within {timeout:g}s")


def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def tree_peak_rss(pid: int) -> int:
    """Sum of VmHWM (peak resident set) over a process and its descendants, in bytes.

    Forked workers share pages with their parent, so the sum over-counts a pre-fork server.
    """
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) * 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


class Nginx:
    """One nginx master with two servers on the same folder: sendfile on, and sendfile off."""

    def __init__(self, root: Path) -> None:
        self.dir = root
        self.www = root / "www"
        self.proc: subprocess.Popen | None = None
        self.port_sendfile = self.port_copy = 0

    def start(self) -> None:
        self.www.mkdir(parents=True, exist_ok=True)
        (self.dir / "tmp").mkdir(exist_ok=True)
        self.port_sendfile, self.port_copy = free_port(), free_port()
        d = self.dir
        user = "user root;\n" if os.geteuid() == 0 else ""
        temps = "".join(f"  {k}_temp_path {d}/tmp/{k};\n" for k in ("client_body", "proxy", "fastcgi",
                                                                    "uwsgi", "scgi"))
        (d / "nginx.conf").write_text(f"""{user}worker_processes auto;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  default_type application/octet-stream;
  access_log {d}/access.log;
  keepalive_requests 1000000;
{temps}  server {{ listen 127.0.0.1:{self.port_sendfile}; root {self.www}; sendfile on; tcp_nopush on; }}
  server {{ listen 127.0.0.1:{self.port_copy}; root {self.www}; sendfile off; }}
}}
""")
        log = open(d / "stderr.log", "ab")
        self.proc = subprocess.Popen(["nginx", "-c", str(d / "nginx.conf"), "-p", str(d)],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        _wait_http(f"http://127.0.0.1:{self.port_sendfile}/", self.proc)
        _wait_http(f"http://127.0.0.1:{self.port_copy}/", self.proc)

    def put_file(self, url_path: str, data: bytes) -> None:
        target = self.www / url_path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def peak_rss(self) -> int:
        return tree_peak_rss(self.proc.pid)

    def stop(self) -> None:
        _stop(self.proc)


class Distribution:
    """`docker-registry serve` on loopback; with `remote`, in its pull-through proxy mode."""

    def __init__(self, root: Path, remote: str | None = None) -> None:
        self.dir = root
        self.remote = remote
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.log_path = root / "registry.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        proxy = f'proxy: {{remoteurl: "{self.remote}"}}\n' if self.remote else ""
        (self.dir / "config.yml").write_text(f"""version: 0.1
log: {{level: info}}
storage:
  filesystem: {{rootdirectory: {self.dir}/data}}
  delete: {{enabled: true}}
  cache: {{blobdescriptor: inmemory}}
http: {{addr: "127.0.0.1:{self.port}"}}
{proxy}""")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(self.dir / "config.yml")],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        _wait_http(self.url + "/v2/", self.proc)

    def log_offset(self) -> int:
        return self.log_path.stat().st_size

    def requests_since(self, offset: int, method: str, needle: str) -> int:
        """Requests of `method` whose path contains `needle`, logged after byte `offset`.

        Counts the access-log lines (combined log format), one per request."""
        with open(self.log_path, "rb") as fh:
            fh.seek(offset)
            text = fh.read().decode(errors="replace")
        return sum(1 for line in text.splitlines() if f'"{method} ' in line and needle in line
                   and "HTTP/1.1\"" in line)

    def peak_rss(self) -> int:
        return tree_peak_rss(self.proc.pid)

    def stop(self) -> None:
        _stop(self.proc)


class Ocicache:
    """`python -m ocicache serve` with its default worker count (one per core)."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.node = NodeProcess(data_dir, "--workers", "0", *args, env=env)

    @property
    def url(self) -> str:
        return self.node.url

    def start(self) -> None:
        self.node.start()

    def peak_rss(self) -> int:
        return tree_peak_rss(self.node.proc.pid)

    def stop(self) -> None:
        self.node.stop()
