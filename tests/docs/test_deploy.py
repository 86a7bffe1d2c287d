"""docs/DEPLOY.md, run as written with local stand-ins: install.sh into a folder (PREFIX, ETC,
UNIT_DIR; a stub venv whose `ocicache` is this checkout, systemctl a stub that records), the
unit verified, the config edited, checked and started in that order (and not started when the
check fails), the node the unit would run answering the "Check it" commands, warm, the admin
API and Route 53's --print. The GeoDNS walks are in test_deploy_geodns.py."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ..nodeproc import NodeProcess, free_port
from ..ocisync import push_image
from .conftest import require
from .shell import DocShell

ADMIN = [
    'curl -H "$A" -X POST localhost:5000/admin/purge -d \'{"repository":"team/app","tag":"v1"}\'',
    'curl -H "$A" -X PUT localhost:5000/admin/pins/team/base',
    'curl -H "$A" -X DELETE localhost:5000/admin/pins/team/base',
    'curl -H "$A" localhost:5000/admin/pins',
    'curl -H "$A" -X POST localhost:5000/admin/prefetch -d \'{"image":"team/app:v1","platforms":["linux/amd64"]}\'',
    'curl -H "$A" localhost:5000/admin/fills',
]


def stub_venv(prefix: Path) -> None:
    """What install.sh would build in PREFIX/venv, without the network: `ocicache` and `python`
    are this checkout's, `pip` records what it was asked to install."""
    bin_dir = prefix / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, body in (("python", f'exec {sys.executable} "$@"'), ("ocicache", f'exec {sys.executable} -m ocicache "$@"'),
                       ("pip", f'echo "$*" >> {prefix}/pip.log')):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)


def test_package_names_exist():
    require("apt-cache")
    sh = DocShell("DEPLOY.md", Path("/tmp"))
    for cmd in ("sudo apt-get install -y python3 python3-venv python3-dev gcc git",
                "sudo apt-get install -y pdns-server pdns-backend-geoip",
                "sudo apt-get install -y pdns-server pdns-backend-bind"):
        sh.skip(cmd, "installs packages; here only their names are checked against apt's lists")
        packages = cmd.split("-y ", 1)[1].split()
        run = subprocess.run(["apt-cache", "show", *packages], capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, f"`{cmd}`: {run.stderr}"
    sh.skip("git clone <this repository> /tmp/ocicache && cd /tmp/ocicache", "the checkout these tests run in")


@pytest.fixture
def origin(tmp_path):
    node = NodeProcess(tmp_path / "origin")
    node.start()
    push_image(node.url, "library/app", "v1", b"app layer " * 3000)
    push_image(node.url, "team/app", "v1", b"team layer " * 3000)
    push_image(node.url, "team/base", "v1", b"base layer " * 3000)
    yield node
    node.stop()


def _edit(config: Path, origin_url: str, port: int, tmp: Path, etc: Path) -> None:
    """Section 2, done by the operator: origin, listen, the store and data folders, the admin API."""
    text = config.read_text()
    for old, new in (('origin = "https://origin.registry.example.net"', f'origin = "{origin_url}"'),
                     ('listen = "0.0.0.0:5000"', f'listen = "127.0.0.1:{port}"'),
                     ('"/var/lib/ocicache"', f'"{tmp / "var-lib"}"'), ('"/var/cache/ocicache"', f'"{tmp / "var-cache"}"'),
                     ('# token_file = "/etc/ocicache/admin.token"', f'token_file = "{etc / "admin.token"}"')):
        assert old in text, f"deploy/ocicache.toml no longer has {old}: update tests/docs/test_deploy.py"
        text = text.replace(old, new)
    config.write_text(text)


def test_install_edit_check_start_operate(tmp_path, origin):
    require("systemd-analyze", "curl", "openssl")
    prefix, etc, units = tmp_path / "opt", tmp_path / "etc", tmp_path / "units"
    units.mkdir()
    stub_venv(prefix)
    port = free_port()
    sh = DocShell("DEPLOY.md", tmp_path, env={"PREFIX": str(prefix), "ETC": str(etc), "UNIT_DIR": str(units),
                                              "OCICACHE_USER": "root"},
                  subs=[("/opt/ocicache", str(prefix)), ("/etc/ocicache", str(etc)), ("chgrp ocicache", "chgrp root"),
                        ("/tmp/ocicache.service", str(tmp_path / "verify/ocicache.service")),
                        ("localhost:5000", f"127.0.0.1:{port}")])
    try:
        # 1. install: enabled, verified, not started
        out = sh.run("sudo deploy/install.sh").stdout
        assert "installed and enabled, not started" in out and "config check" in out, out
        assert (etc / "ocicache.toml").read_text() == (sh.cwd / "deploy/ocicache.toml").read_text()
        unit = (units / "ocicache.service").read_text()
        assert f"ExecStart={prefix}/venv/bin/ocicache serve --config {etc}/ocicache.toml" in unit
        calls = sh.systemctl_calls()
        assert "daemon-reload" in calls and "enable ocicache" in calls, calls
        assert not any(c.startswith(("start", "restart")) for c in calls), calls   # the placeholder origin: not started
        assert "pip.log" in [p.name for p in prefix.iterdir()]
        (tmp_path / "verify").mkdir()
        sh.run("sed 's#^ExecStart=/opt/ocicache/venv/bin/ocicache#ExecStart=/bin/true#' deploy/systemd/ocicache.service "
               "> /tmp/ocicache.service", subs=[("/tmp/ocicache.service", str(tmp_path / "verify/ocicache.service"))])
        sh.run("systemd-analyze verify /tmp/ocicache.service")
        bare = subprocess.run(["systemd-analyze", "verify", str(sh.cwd / "deploy/systemd/ocicache.service")],
                              capture_output=True, text=True, timeout=60)   # what DEPLOY says verify does first
        assert bare.returncode != 0 and "/opt/ocicache/venv/bin/ocicache is not executable" in bare.stderr

        # 3 before 2: the shipped config passes, warning that its origin is a placeholder
        check = "sudo -u ocicache /opt/ocicache/venv/bin/ocicache config check /etc/ocicache/ocicache.toml"
        first = sh.run(check).stdout
        assert "ok; the node would run" in first and "is the shipped placeholder" in first, first

        # 2. configure: the admin secret, then the edits
        sh.run("openssl rand -hex 32 | sudo tee /etc/ocicache/admin.token >/dev/null")
        sh.run("sudo chgrp ocicache /etc/ocicache/admin.token && sudo chmod 0640 /etc/ocicache/admin.token")
        assert (etc / "admin.token").stat().st_mode & 0o777 == 0o640
        config = etc / "ocicache.toml"
        _edit(config, origin.url, port, tmp_path, etc)

        # 3. check, start; a config that fails the check starts nothing
        good = config.read_text()
        config.write_text(good.replace("max_bytes = 500_000_000_000", 'max_bytes = "lots"'))
        refused = sh.run("sudo deploy/install.sh --start", status=1)
        assert "[cache] max_bytes" in refused.stderr and "not starting" in refused.stderr, refused.stderr
        assert not any(c.startswith("restart") for c in sh.systemctl_calls())
        config.write_text(good)
        summary = sh.run(check).stdout
        for says in (f"http://127.0.0.1:{port}", f"origin     {origin.url}", "budget 465.7 GiB",
                     f"admin API  on: secret in {etc}/admin.token", "logs       json at INFO"):
            assert says in summary, (says, summary)
        assert "placeholder" not in summary, summary
        sh.run("sudo deploy/install.sh --start")
        assert "restart ocicache" in sh.systemctl_calls()
        sh.skip("systemctl status ocicache", "systemd is not PID 1 here; READY=1 after every worker listens is "
                "tested over a real NOTIFY_SOCKET by tests/ops/test_service.py")
        sh.skip("journalctl -u ocicache -f", "no journald here; the node's stdout lines are read below")
        exec_start = re.search(r"^ExecStart=(.+)$", unit, re.M).group(1)   # what systemd would run
        node_log = tmp_path / "unit-node.log"
        with open(node_log, "wb") as log:
            node = subprocess.Popen(exec_start.split(), stdout=log, stderr=subprocess.STDOUT, env=sh.env)
        try:
            _check_it(sh, port, node_log)
            _operate(sh, tmp_path)
        finally:
            node.terminate()
            node.wait(30)
        startup = [json.loads(x)["msg"] for x in node_log.read_text().splitlines() if "listening on" in x]
        assert startup and f"origin {origin.url}" in startup[0] and "admin API on" in startup[0], startup
    finally:
        sh.close()


def _check_it(sh: DocShell, port: int, node_log: Path) -> None:
    import time
    deadline = time.monotonic() + 30
    while sh.run("curl -s localhost:5000/healthz", status=None).returncode != 0:
        assert time.monotonic() < deadline, node_log.read_text()[-3000:]
        time.sleep(0.2)
    assert json.loads(sh.run("curl -s localhost:5000/healthz").stdout)["status"] == "alive"
    ready = json.loads(sh.run("curl -s localhost:5000/readyz").stdout)
    assert ready["ready"] is True, ready
    metrics = sh.run("curl -s localhost:5000/metrics | grep ocicache_").stdout
    assert "ocicache_http_requests_total" in metrics, metrics
    warm = sh.run("ocicache warm --node http://localhost:5000 library/app:v1")
    assert "warmed library/app:v1" in warm.stdout, warm.stderr


def _operate(sh: DocShell, tmp: Path) -> None:
    sh.run('A="Authorization: Bearer $(cat /etc/ocicache/admin.token)"')
    answers = [json.loads(sh.run(cmd).stdout) for cmd in ADMIN]
    purge, pin, unpin, pins, prefetch, fills = answers
    assert "errors" not in purge and pin["repository"] == "team/base" and pin["pinned_digests"] >= 3, answers
    assert unpin == {"repository": "team/base", "pinned": False} and pins == {"pins": []}, answers
    assert prefetch["image"] == "team/app:v1" and prefetch["blobs"] == 2, prefetch
    assert isinstance(fills["fills"], list), fills
    batch = json.loads(sh.run("python3 deploy/geodns/route53.py --zone-id Z123 --name registry.example.net --print").stdout)
    assert batch["Changes"] and all(c["ResourceRecordSet"]["Name"] == "registry.example.net" for c in batch["Changes"]
                                    if "ResourceRecordSet" in c), batch
