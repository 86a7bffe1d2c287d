"""docs/DEPLOY.md's GeoDNS steps, run as written against a local pdns_server: the GeoIP zone
answering by client subnet, the manual failover (region-a's node out: its clients get the
fallback, which no longer lists it; then back), and the health-checked LUA variant with real
edges standing in at loopback addresses (one per region up, the others down)."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from ..nodeproc import NodeProcess
from ..ops.test_geodns import BoundNode, port_free_on
from .conftest import require
from .shell import DocShell

DIG_A = "dig +short @<dns host> registry.example.net +subnet=198.51.100.7/32"
DIG_B = "dig +short @<dns host> registry.example.net +subnet=203.0.113.7/32"


def answers(sh: DocShell, command: str, want: list[str], timeout: float = 20) -> list[str]:
    """The dig's addresses, asked again until they are `want` (pdns's caches: cache-ttl). A dig
    that got no reply in time (exit 9: pdns busy on a loaded machine) is asked again too."""
    deadline = time.monotonic() + timeout
    while True:
        done = sh.run(command, status=None)
        assert done.returncode in (0, 9), f"`{command}` exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        got = sorted(done.stdout.split()) if done.returncode == 0 else []
        if got == want or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


class Pdns:
    """pdns_server on a free port with the files the document copied into `conf_dir`."""

    def __init__(self, conf_dir: Path) -> None:
        self.dir = conf_dir
        self.port = port_free_on("127.0.0.1")
        self.proc: subprocess.Popen | None = None

    def start(self, sh: DocShell, local: dict[str, str]) -> None:
        conf = self.dir / "pdns.conf"
        text = conf.read_text()
        for old, new in {**local, "local-port=53": f"local-port={self.port}", "disable-syslog=no": "disable-syslog=yes"}.items():
            assert old in text, f"{conf.name} no longer has {old}: update tests/docs/test_deploy_geodns.py"
            text = text.replace(old, new)
        conf.write_text(text + f"socket-dir={self.dir}\nguardian=no\ndaemon=no\nsecurity-poll-suffix=\n")
        log = open(self.dir / "pdns.log", "wb")
        self.proc = subprocess.Popen(["pdns_server", f"--config-dir={self.dir}"], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.dir / "pdns.log").read_text()[-2000:]
            probe = subprocess.run(["dig", "+short", "+time=1", "+tries=1", "@127.0.0.1", "-p", str(self.port),
                                    "ns1.registry.example.net", "A"], capture_output=True, text=True, timeout=10)
            if probe.stdout.strip():
                return
            time.sleep(0.1)
        raise AssertionError("pdns did not answer:\n" + (self.dir / "pdns.log").read_text()[-2000:])

    def log(self) -> str:
        return (self.dir / "pdns.log").read_text()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def dns_tools():
    require("pdns_server", "pdns_control", "dig")


def test_geoip_zone_and_the_manual_failover(tmp_path, dns_tools):
    etc = tmp_path / "powerdns"
    etc.mkdir()
    pdns = Pdns(etc)
    sh = DocShell("DEPLOY.md", tmp_path, subs=[("/etc/powerdns", str(etc)),
                                               ("@<dns host>", f"@127.0.0.1 -p {pdns.port}"),
                                               ("pdns_control rediscover", f"pdns_control --config-dir={etc} rediscover")])
    try:
        sh.run("sudo cp deploy/geodns/pdns.conf /etc/powerdns/pdns.conf")
        sh.run("sudo cp deploy/geodns/registry.example.net.yaml /etc/powerdns/")
        sh.skip("sudo systemctl restart pdns", "no systemd here: pdns_server is started on the copied files")
        pdns.start(sh, {"/etc/powerdns/registry.example.net.yaml": str(etc / "registry.example.net.yaml")})
        assert answers(sh, DIG_A, ["192.0.2.10"]) == ["192.0.2.10"]     # -> the region-a node
        assert "No GeoIP database files loaded!" in pdns.log()          # what DEPLOY says is expected

        sh.run("Z=/etc/powerdns/registry.example.net.yaml")
        sh.run("sudo cp $Z $Z.healthy")
        sh.run("sudo sed -i -e 's|: region-a.registry.example.net$|: all.registry.example.net|' -e "
               "'/^    all.registry.example.net:/,/^  [a-z]/{/- a: 192.0.2.10$/d}' $Z")
        sh.run("sudo pdns_control rediscover")
        assert answers(sh, DIG_A, ["192.0.2.20"]) == ["192.0.2.20"]     # the fallback, without the failed node
        sh.run("sudo cp $Z.healthy $Z && sudo pdns_control rediscover")
        assert answers(sh, DIG_A, ["192.0.2.10"]) == ["192.0.2.10"]     # back in rotation
    finally:
        pdns.stop()
        sh.close()


def test_lua_health_checked_zone_answers_each_regions_healthy_edges(tmp_path, dns_tools):
    etc = tmp_path / "powerdns"
    etc.mkdir()
    pdns = Pdns(etc)
    edge_port = port_free_on("127.0.0.11", "127.0.0.21")
    sh = DocShell("DEPLOY.md", tmp_path, subs=[("/etc/powerdns", str(etc)), ("@<dns host>", f"@127.0.0.1 -p {pdns.port}")])
    origin = NodeProcess(tmp_path / "origin")
    edges = [BoundNode(tmp_path / "edge-a1", "127.0.0.11", edge_port), BoundNode(tmp_path / "edge-b1", "127.0.0.21", edge_port)]
    try:
        origin.start()
        for edge in edges:
            edge.extra_args = (*edge.extra_args, "--origin", origin.url)
            edge.start()
        sh.run("sudo cp deploy/geodns/lua/pdns.conf /etc/powerdns/pdns.conf")
        sh.run("sudo cp deploy/geodns/lua/named.conf deploy/geodns/lua/registry.example.net.zone /etc/powerdns/")
        zone = etc / "registry.example.net.zone"
        text = zone.read_text()
        for old, new in {"'198.51.100.11', '198.51.100.12'": "'127.0.0.11', '127.0.0.12'",
                         "'203.0.113.11', '203.0.113.12'": "'127.0.0.21', '127.0.0.22'",
                         "registry.example.net:5000/readyz": f"registry.example.net:{edge_port}/readyz"}.items():
            assert old in text, f"the LUA zone no longer has {old}: update tests/docs/test_deploy_geodns.py"
            text = text.replace(old, new)
        zone.write_text(text)
        named = etc / "named.conf"
        named.write_text(named.read_text().replace("/etc/powerdns", str(etc)))
        sh.skip("sudo systemctl restart pdns", "no systemd here: pdns_server is started on the copied files")
        pdns.start(sh, {"bind-config=/etc/powerdns/named.conf": f"bind-config={named}",
                        "local-address=192.0.2.53": "local-address=127.0.0.1"})
        # edge-a2 and edge-b2 (127.0.0.12, .22) do not answer: the checks take them out
        assert answers(sh, DIG_A, ["127.0.0.11"]) == ["127.0.0.11"], pdns.log()[-2000:]
        assert answers(sh, DIG_B, ["127.0.0.21"]) == ["127.0.0.21"], pdns.log()[-2000:]
        edges[0].stop()                                                # region a's last edge dies
        assert answers(sh, DIG_A, ["127.0.0.21"]) == ["127.0.0.21"], pdns.log()[-2000:]   # the other region's
    finally:
        pdns.stop()
        for edge in edges:
            edge.stop()
        origin.stop()
        sh.close()
