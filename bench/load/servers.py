"""The servers under test, each on 127.0.0.1:<free port> with its own folder and log.

nginx (static files, sendfile on and off, and HTTPS), CNCF distribution (Debian
`docker-registry`) directly and in its proxy mode, and ocicache as a registry (also over HTTPS)
and as an edge in front of distribution. Every `start()` is paired with a `stop()` that the
runner calls in `finally`; `restart_empty()` gives a proxy an empty store (a cold start).
"""
from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ocicache.auth.tls import CIPHERS
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


def _wait_tcp(port: int, proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """Until something accepts on 127.0.0.1:`port` (an HTTPS port: no certificate check here)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout:g}s")


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
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) * 1024
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def tree_pss(pid: int) -> int:
    """Sum of PSS (/proc/<pid>/smaps_rollup) over a process and its descendants, in bytes: each
    page shared by n processes counts 1/n in each, so the sum counts it once."""
    total = 0
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


class PssPeaks:
    """`with PssPeaks({name: server}) as pss:` samples each server's tree_pss every `every` seconds
    in a thread while the block runs; `pss.peak(name)` is the highest sum seen (bytes)."""

    def __init__(self, servers: dict, every: float = 0.2) -> None:
        self.servers, self.every = servers, every
        self.peaks = {name: 0 for name in servers}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while True:
            for name, server in self.servers.items():
                self.peaks[name] = max(self.peaks[name], tree_pss(server.pid()))
            if self._stop.wait(self.every):
                return

    def __enter__(self) -> "PssPeaks":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(30)

    def peak(self, name: str) -> int:
        return self.peaks[name]


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return pids


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants, every thread that ever ran in
    them included (/proc/<pid>/stat: whole clock ticks, 10 ms): a server's cost over a run of
    seconds, which a machine shared with other work does not inflate the way it inflates wall
    time."""
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / os.sysconf("SC_CLK_TCK")


def tree_thread_cpu_seconds(pid: int) -> float:
    """CPU seconds used so far by the living threads of a process and of its descendants
    (/proc/<pid>/task/<tid>/schedstat: nanoseconds on a CPU, where tree_cpu_seconds's ticks are
    too coarse for a push of a few milliseconds). A thread that ended is not counted, so the
    difference of two readings misses a thread that started and ended between them (the C
    hasher's writer thread for a piece of 256 KiB or more lives for one piece): a lower bound."""
    total = 0
    for p in _tree(pid):
        try:
            for task in Path(f"/proc/{p}/task").iterdir():
                with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                    total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1e9


def tree_reset_peak(pid: int) -> None:
    """Reset VmHWM to the current RSS for a process and its descendants (`clear_refs` 5), so the
    next tree_peak_rss() is the peak since now: one figure per repetition."""
    for p in _tree(pid):
        try:
            Path(f"/proc/{p}/clear_refs").write_text("5")
        except (FileNotFoundError, ProcessLookupError):
            continue


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A P-256 certificate for 127.0.0.1 and its key (PEM files in `directory`): the one
    certificate both HTTPS servers present."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=2)).sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _start_nginx(d: Path, http_body: str) -> subprocess.Popen:
    """nginx in the foreground on the config `nginx.conf` in `d`: one worker per core, its pid,
    logs and temporary files in `d`, and `http_body` inside its `http` block."""
    (d / "tmp").mkdir(parents=True, exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    temps = "".join(f"  {k}_temp_path {d}/tmp/{k};\n" for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (d / "nginx.conf").write_text(f"""{user}worker_processes auto;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  keepalive_requests 1000000;
{temps}{http_body}}}
""")
    log = open(d / "stderr.log", "ab")
    proc = subprocess.Popen(["nginx", "-c", str(d / "nginx.conf"), "-p", str(d)], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc


class Nginx:
    """One nginx master with three servers on the same folder: sendfile on, sendfile off, and
    HTTPS (sendfile on) with `tls` = (cert, key): ocicache's cipher list, TLS 1.2 and 1.3."""

    def __init__(self, root: Path, tls: tuple[Path, Path] | None = None) -> None:
        self.dir = root
        self.www = root / "www"
        self.tls = tls
        self.proc: subprocess.Popen | None = None
        self.port_sendfile = self.port_copy = self.port_tls = 0

    def start(self) -> None:
        self.www.mkdir(parents=True, exist_ok=True)
        self.port_sendfile, self.port_copy = free_port(), free_port()
        https = ""
        if self.tls:
            self.port_tls = free_port()
            https = (f"  server {{ listen 127.0.0.1:{self.port_tls} ssl; root {self.www}; sendfile on; "
                     f"tcp_nopush on;\n    ssl_certificate {self.tls[0]}; ssl_certificate_key {self.tls[1]};\n"
                     f"    ssl_protocols TLSv1.2 TLSv1.3; ssl_ciphers {CIPHERS}; ssl_prefer_server_ciphers on; }}\n")
        self.proc = _start_nginx(self.dir, f"""  default_type application/octet-stream;
  access_log {self.dir}/access.log;
  server {{ listen 127.0.0.1:{self.port_sendfile}; root {self.www}; sendfile on; tcp_nopush on; }}
  server {{ listen 127.0.0.1:{self.port_copy}; root {self.www}; sendfile off; }}
{https}""")
        _wait_http(f"http://127.0.0.1:{self.port_sendfile}/", self.proc)
        _wait_http(f"http://127.0.0.1:{self.port_copy}/", self.proc)
        if self.tls:
            _wait_tcp(self.port_tls, self.proc)

    def reset_peak(self) -> None:
        tree_reset_peak(self.proc.pid)

    def put_file(self, url_path: str, data: bytes) -> None:
        target = self.www / url_path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def peak_rss(self) -> int:
        return tree_peak_rss(self.proc.pid)

    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        _stop(self.proc)


class NginxRelay:
    """One nginx relaying to each of `origins` ({name: base URL}) on a port of its own, as a
    reverse proxy does the least it can: requests and answers streamed through unbuffered, kept-alive
    connections to the origin, the client's Host passed on (so an origin's Location names the
    relay), no access log. The push-through workload's floor for the cost of a hop."""

    def __init__(self, root: Path, origins: dict[str, str]) -> None:
        self.dir, self.origins = root, origins
        self.ports: dict[str, int] = {}
        self.proc: subprocess.Popen | None = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def start(self) -> None:
        self.ports = {name: free_port() for name in self.origins}
        servers = "".join(
            f"  upstream origin{i} {{ server {urllib.parse.urlsplit(url).netloc}; keepalive 32; }}\n"
            f"  server {{ listen 127.0.0.1:{self.ports[name]}; client_max_body_size 0;\n"
            f"    location / {{ proxy_pass http://origin{i}; proxy_http_version 1.1; "
            f"proxy_set_header Connection \"\"; proxy_set_header Host $http_host; "
            f"proxy_request_buffering off; proxy_buffering off; }} }}\n"
            for i, (name, url) in enumerate(self.origins.items()))
        self.proc = _start_nginx(self.dir, "  access_log off;\n" + servers)
        for name in self.origins:
            _wait_http(self.url(name) + "/v2/", self.proc)

    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        _stop(self.proc)


class AioRelay:
    """bench/load/aiorelay.py relaying to `origin`: the least a relay on ocicache's own stack
    does (aiohttp on uvloop, one worker per core). The push-through workload's floor for a hop
    on this stack."""

    def __init__(self, root: Path, origin: str) -> None:
        self.dir, self.origin = root, origin
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        log = open(self.dir / "stderr.log", "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.load.aiorelay", self.origin, str(self.port)],
                                     stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2])
        log.close()
        _wait_http(self.url + "/v2/", self.proc)

    def pid(self) -> int:
        return self.proc.pid

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

    def restart_empty(self) -> None:
        """Stop, remove the stored data, start again (another port): a proxy with a cold store."""
        self.stop()
        shutil.rmtree(self.dir / "data", ignore_errors=True)
        self.start()

    def reset_peak(self) -> None:
        tree_reset_peak(self.proc.pid)

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

    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        _stop(self.proc)


class Ocicache:
    """`python -m ocicache serve` with its default worker count (one per core); with `tls` =
    (cert, key), over HTTPS."""

    def __init__(self, data_dir: Path, *args: str, env: dict[str, str] | None = None,
                 tls: tuple[Path, Path] | None = None) -> None:
        env = dict(env or {})
        if tls:
            env.update({"OCICACHE_TLS_CERT": str(tls[0]), "OCICACHE_TLS_KEY": str(tls[1])})
        self.node = NodeProcess(data_dir, "--workers", "0", *args, env=env, tls=bool(tls))

    @property
    def url(self) -> str:
        return self.node.url

    def start(self) -> None:
        self.node.start()

    def peak_rss(self) -> int:
        return tree_peak_rss(self.node.proc.pid)

    def pid(self) -> int:
        return self.node.proc.pid

    def reset_peak(self) -> None:
        tree_reset_peak(self.node.proc.pid)

    def restart_empty(self) -> None:
        """Stop, remove the node's data dir, start again: an edge with an empty store."""
        self.node.stop()
        shutil.rmtree(self.node.data_dir, ignore_errors=True)
        self.node.start()

    def stop(self) -> None:
        self.node.stop()
