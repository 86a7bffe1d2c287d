"""The node as a systemd service: the unit verifies, READY=1/STOPPING=1 over a real
NOTIFY_SOCKET, SIGTERM lets a large download finish, SIGHUP reloads without dropping
connections, `ocicache config check`."""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from ..nodeproc import NodeProcess
from ..ocisync import push_blob

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "deploy" / "systemd" / "ocicache.service"
MiB = 1024 * 1024


def test_unit_passes_systemd_analyze_verify(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.fail("systemd-analyze is missing: `make system-deps` installs the systemd package")
    text = UNIT.read_text()
    for key in ("Type=notify", "CacheDirectory=", "StateDirectory=", "User=ocicache", "LimitNOFILE=",
                "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                "RestrictAddressFamilies=", "CapabilityBoundingSet=", "Restart=on-failure", "ExecReload="):
        assert key in text, key
    # verify checks that ExecStart exists: point it at this checkout's entry point.
    unit = tmp_path / "ocicache.service"
    unit.write_text(text.replace("/opt/ocicache/venv/bin/ocicache", str(Path(sys.executable).parent / "ocicache")))
    run = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "ocicache.service" not in run.stderr, run.stderr   # no warning about our unit


class NotifySocket:
    def __init__(self) -> None:
        self.name = f"@ocicache-test-{uuid.uuid4().hex}"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind("\0" + self.name[1:])

    def wait_for(self, field: str, timeout: float = 20.0) -> list[str]:
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                seen += self.sock.recv(4096).decode().split("\n")
            except socket.timeout:
                break
            if field in seen:
                return seen
        raise AssertionError(f"no {field} from the node; got {seen}")


def _connect_refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_ready_then_sigterm_lets_a_large_download_finish(tmp_path):
    notify = NotifySocket()
    node = NodeProcess(tmp_path / "node", "--workers", "2", env={"NOTIFY_SOCKET": notify.name})
    node.start()
    try:
        fields = notify.wait_for("READY=1")
        assert f"MAINPID={node.proc.pid}" in fields          # the parent reports, once all workers listen
        data = os.urandom(64 * MiB)
        digest = push_blob(node.url, "svc/big", data)
        conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
        conn.request("GET", f"/v2/svc/big/blobs/{digest}")
        resp = conn.getresponse()
        assert resp.status == 200
        received = hashlib.sha256(resp.read(MiB))
        node.proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in notify.wait_for("STOPPING=1")
        deadline = time.monotonic() + 5
        while not _connect_refused(node.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _connect_refused(node.port)                    # no new connections while draining
        got = MiB
        while chunk := resp.read(MiB):
            received.update(chunk)
            got += len(chunk)
            time.sleep(0.01)                                  # a slow client: the drain waits for it
        assert got == len(data) and received.hexdigest() == digest[7:]
        assert node.proc.wait(30) == 0
    finally:
        node.stop()


def _admin_status(conn: http.client.HTTPConnection, token: str) -> int:
    conn.request("GET", "/admin/pins", headers={"Authorization": f"Bearer {token}"})
    resp = conn.getresponse()
    resp.read()
    return resp.status


def test_sighup_reloads_the_admin_token_without_dropping_connections(tmp_path):
    old, new = "a" * 32, "b" * 32
    token_file = tmp_path / "admin.token"
    token_file.write_text(old)
    config = tmp_path / "ocicache.toml"
    config.write_text(f'[admin]\ntoken_file = "{token_file}"\n')
    node = NodeProcess(tmp_path / "node", "--config", str(config))
    node.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
        # A file:// node has no cache: an authorized call gets 405 UNSUPPORTED, a wrong token 401.
        assert (_admin_status(conn, old), _admin_status(conn, new)) == (405, 401)
        token_file.write_text(new)
        node.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while _admin_status(conn, new) != 405 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (_admin_status(conn, new), _admin_status(conn, old)) == (405, 401)   # same connection
        token_file.write_text("short")                        # invalid: refused, old config kept
        node.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while "reload refused" not in node.log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "reload refused" in node.log_path.read_text()
        assert _admin_status(conn, new) == 405 and node.proc.poll() is None
    finally:
        node.stop()


def test_config_check(tmp_path):
    good = ROOT / "deploy" / "ocicache.toml"
    run = subprocess.run([sys.executable, "-m", "ocicache", "config", "check", str(good)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "ok; the node would run" in run.stdout, run.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text('[cache]\nlow_watermark = 0.99\nhigh_watermark = 0.5\n')
    run = subprocess.run([sys.executable, "-m", "ocicache", "config", "check", str(bad)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "INVALID" in run.stderr and "watermark" in run.stderr
    assert "Traceback" not in run.stderr
