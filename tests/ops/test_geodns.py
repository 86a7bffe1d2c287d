"""The shipped PowerDNS GeoIP configuration answers the registry name by client network
(EDNS client-subnet, queried with `dig +subnet=`); each answer is a running edge node
(on 127.0.0.2 / 127.0.0.3 in a test copy of the zone) and a pull through it works."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from ..nodeproc import NodeProcess, free_port
from ..ocisync import push_image, request

GEODNS = Path(__file__).resolve().parents[2] / "deploy" / "geodns"
NAME = "registry.example.net"
NODE_ADDRESSES = {"192.0.2.10": "127.0.0.2", "192.0.2.20": "127.0.0.3"}


class BoundNode(NodeProcess):
    """A node listening on host:port (the same port on every address, as DNS gives no port)."""

    def __init__(self, data_dir: Path, host: str, port: int, *args: str) -> None:
        super().__init__(data_dir, "--listen", f"{host}:{port}", *args)
        self.bound = f"{host}:{port}"

    @property
    def hostport(self) -> str:
        return self.bound


def port_free_on(*hosts: str) -> int:
    for _ in range(50):
        port = free_port()
        try:
            for host in hosts:
                for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    with socket.socket(socket.AF_INET, kind) as s:
                        s.bind((host, port))
            return port
        except OSError:
            continue
    raise RuntimeError(f"no port free on all of {hosts}")


@pytest.fixture
def pdns(tmp_path):
    for tool in ("pdns_server", "dig"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: `make system-deps` installs pdns-server, pdns-backend-geoip, dnsutils")
    zone = (GEODNS / "registry.example.net.yaml").read_text()
    for shipped, test in NODE_ADDRESSES.items():
        zone = zone.replace(f"a: {shipped}", f"a: {test}")
    (tmp_path / "zone.yaml").write_text(zone)
    port = port_free_on("127.0.0.1")
    conf = (GEODNS / "pdns.conf").read_text()
    conf = conf.replace("/etc/powerdns/registry.example.net.yaml", str(tmp_path / "zone.yaml"))
    conf = conf.replace("local-port=53", f"local-port={port}").replace("disable-syslog=no", "disable-syslog=yes")
    conf += f"socket-dir={tmp_path}\nguardian=no\ndaemon=no\n"
    (tmp_path / "pdns.conf").write_text(conf)
    log = open(tmp_path / "pdns.log", "wb")
    proc = subprocess.Popen(["pdns_server", f"--config-dir={tmp_path}"], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    try:
        deadline = time.monotonic() + 15
        while not dig(port) and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "pdns.log").read_text()[-2000:]
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def dig(port: int, subnet: str | None = None) -> list[str]:
    args = ["dig", "+short", "+time=1", "+tries=1", "@127.0.0.1", "-p", str(port), NAME, "A"]
    if subnet:
        args.append(f"+subnet={subnet}")
    out = subprocess.run(args, capture_output=True, text=True, timeout=10).stdout
    return sorted(line for line in out.split() if line[0].isdigit())


def pull(url: str, repo: str) -> bool:
    status, _, body = request(url, "GET", f"/v2/{repo}/manifests/v1",
                              headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert status == 200, body
    for d in [json.loads(body)["config"], *json.loads(body)["layers"]]:
        status, _, data = request(url, "GET", f"/v2/{repo}/blobs/{d['digest']}")
        if status != 200 or "sha256:" + hashlib.sha256(data).hexdigest() != d["digest"]:
            return False
    return True


def test_answers_by_client_network_and_each_answer_serves_pulls(pdns, tmp_path):
    port = port_free_on(*NODE_ADDRESSES.values())
    origin = NodeProcess(tmp_path / "origin")
    origin.start()
    nodes = [BoundNode(tmp_path / f"edge{i}", host, port, "--origin", origin.url)
             for i, host in enumerate(NODE_ADDRESSES.values())]
    try:
        for node in nodes:
            node.start()
        push_image(origin.url, "geo/app", "v1", os.urandom(200_000))
        region_a, region_b = dig(pdns, "198.51.100.7/32"), dig(pdns, "203.0.113.9/32")
        assert region_a == ["127.0.0.2"] and region_b == ["127.0.0.3"]
        assert dig(pdns, "192.0.2.99/32") == ["127.0.0.2", "127.0.0.3"]   # elsewhere: both
        for answer in region_a + region_b:
            assert pull(f"http://{answer}:{port}", "geo/app")
        for node in nodes:    # each pull was served by the node the answer named
            assert '"route":"blob"' in node.log_path.read_text()
    finally:
        for node in nodes:
            node.stop()
        origin.stop()
