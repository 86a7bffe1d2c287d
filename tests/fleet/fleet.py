"""A two-region ocicache fleet in network namespaces, built and torn down by the harness.

    with Fleet(s3server, workdir) as fleet:       # fabric, S3 relay, 6 nodes, GeoDNS, clients
        fleet.node("edge-a1").kill()
        dig(fleet.fabric, fleet.client("a"))       # what a region-a client is answered

Per region: a regional node (`--origin s3://<bucket>/fleet`, the suite's RGW through the relay)
and two edges (`--origin http://<regional>:5000`). The DNS server runs the shipped zone.
`close()` stops every process it started (by PID) and removes every namespace, even after a
failed start.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from .geodns import GeoDNS, dig
from .netns import Fabric, sweep_stale
from .nodes import REPO, Node
from .topology import DNS_ADDR, INFRA_NET, PROBE_ADDR, REGIONS, S3_ADDR, S3_PORT, other_nets

BUCKET_PREFIX = "fleet"


class Fleet:
    def __init__(self, s3server, workdir: Path) -> None:
        self.s3server = s3server
        self.dir = Path(workdir)
        self.fabric: Fabric | None = None
        self.nodes: dict[str, Node] = {}
        self.extra: list[Node] = []                   # nodes a test added (not healed, not in edges())
        self.clients: dict[str, list[str]] = {}       # region -> client namespaces
        self.relay: subprocess.Popen | None = None
        self.dns: GeoDNS | None = None
        self.bucket = ""
        self.probe = ""
        self.started_in = 0.0

    # ---- build ----
    def __enter__(self) -> "Fleet":
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        t0 = time.monotonic()
        sweep_stale()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fabric = Fabric()
        infra = other_nets(INFRA_NET)
        dns_ns = self.fabric.host("dns", f"{DNS_ADDR}/24", infra)
        s3_ns = self.fabric.host("s3", f"{S3_ADDR}/24", infra)
        self.probe = self.fabric.host("probe", f"{PROBE_ADDR}/24", infra, nameserver=DNS_ADDR)
        self._start_relay(s3_ns)
        self.bucket = self.s3server.new_bucket()
        for region in REGIONS:
            self._add_region(region)
        for node in self.nodes.values():
            if node.role.startswith("regional"):
                node.launch()
        for node in self.nodes.values():
            if node.role.startswith("regional"):
                node.wait_up()
        for node in self.edges():
            node.launch()
        for node in self.edges():
            node.wait_up()
        self.dns = GeoDNS(self.fabric, dns_ns, self.dir / "dns")
        self.dns.start()
        for region in REGIONS:
            self.wait_answer(region.name, set(region.edges), timeout=20)
        self.started_in = time.monotonic() - t0

    def _start_relay(self, ns: str) -> None:
        target = self.s3server.url.split("://", 1)[1]
        self.relay = subprocess.Popen(
            [sys.executable, "-m", "tests.fleet.s3relay", "--netns", ns, "--listen", f"{S3_ADDR}:{S3_PORT}",
             "--to", target], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        line = self.relay.stdout.readline().decode(errors="replace").strip()
        if line != "listening":
            rest = self.relay.stdout.read().decode(errors="replace") if self.relay.poll() is not None else ""
            raise RuntimeError(f"the S3 relay to {self.s3server.url} did not start: {line} {rest[-1500:]}")

    def _s3_env(self) -> dict[str, str]:
        env = self.s3server.env
        return {"OCICACHE_S3_ENDPOINT_URL": f"http://{S3_ADDR}:{S3_PORT}",
                "OCICACHE_S3_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"],
                "OCICACHE_S3_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"],
                "OCICACHE_S3_REGION": "us-east-1", "OCICACHE_S3_ADDRESSING_STYLE": "path",
                "OCICACHE_S3_PART_BYTES": str(5 * 1024 * 1024)}

    def _add_region(self, region) -> None:
        nets = other_nets(region.net)
        ns = self.fabric.host(region.regional_role, f"{region.regional}/24", nets)
        self.nodes[region.regional_role] = Node(
            self.fabric, region.regional_role, region.name, ns, region.regional,
            f"s3://{self.bucket}/{BUCKET_PREFIX}", self.dir / region.regional_role, self._s3_env())
        for i, address in enumerate(region.edges):
            role = region.edge_role(i)
            ns = self.fabric.host(role, f"{address}/24", nets)
            self.nodes[role] = Node(self.fabric, role, region.name, ns, address,
                                    f"http://{region.regional}:5000", self.dir / role)
        self.clients[region.name] = [self.fabric.host(region.client_role(i), f"{address}/24", nets,
                                                      nameserver=DNS_ADDR)
                                     for i, address in enumerate(region.clients)]

    def add_edge(self, region_name: str, address: str) -> Node:
        """Start one more edge of `region_name` at `address` (the zone does not list it yet)."""
        reg = next(r for r in REGIONS if r.name == region_name)
        role = f"edge-{region_name}{len(reg.edges) + 1 + len(self.extra)}"
        ns = self.fabric.host(role, f"{address}/24", other_nets(reg.net))
        node = Node(self.fabric, role, region_name, ns, address, f"http://{reg.regional}:5000", self.dir / role)
        self.extra.append(node)
        node.start()
        return node

    # ---- use ----
    def node(self, role: str) -> Node:
        return self.nodes[role]

    def edges(self, region: str | None = None) -> list[Node]:
        return [n for n in self.nodes.values() if n.role.startswith("edge") and region in (None, n.region)]

    def regional(self, region: str) -> Node:
        return self.nodes[f"regional-{region}"]

    def client(self, region: str, i: int = 0) -> str:
        return self.clients[region][i]

    def answer(self, region: str, subnet: str | None = None) -> set[str]:
        return set(dig(self.fabric, self.client(region), subnet))

    def probe_answer(self, subnet: str | None) -> list[str]:
        """What a resolver of no region is answered, passing `subnet` as EDNS client-subnet."""
        return dig(self.fabric, self.probe, subnet)

    def wait_answer(self, region: str, want: set[str], timeout: float) -> float:
        """Seconds until a client of `region` is answered exactly `want`; raises after `timeout`."""
        t0 = time.monotonic()
        got: set[str] = set()
        while time.monotonic() - t0 < timeout:
            got = self.answer(region)
            if got == want:
                return time.monotonic() - t0
            time.sleep(0.1)
        raise AssertionError(f"region {region}'s clients were answered {sorted(got)} for {timeout:.0f} s, "
                             f"expected {sorted(want)}; pdns log:\n{self.dns_log()[-2000:]}")

    def heal(self, timeout: float) -> None:
        """Every node running, every cable plugged, no shaping; until DNS answers every edge."""
        for node in self.nodes.values():
            self.fabric.link(node.ns, up=True)
            self.fabric.unshape(node.ns)
        dead = [n for n in self.nodes.values() if not n.running]
        for node in sorted(dead, key=lambda n: not n.role.startswith("regional")):
            node.start()
        for region in REGIONS:
            self.wait_answer(region.name, set(region.edges), timeout)

    def s3_bytes_sent(self) -> int:
        """Bytes the S3 gateway has sent in answers to GETs (its `get_b` counter, admin socket)."""
        sock = Path(self.s3server.dir) / "run" / "rgw.asok"
        done = subprocess.run(["ceph", "--admin-daemon", str(sock), "perf", "dump"], capture_output=True,
                              text=True, stdin=subprocess.DEVNULL, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"`ceph --admin-daemon {sock} perf dump` failed: {done.stderr.strip()[-500:]}")
        return int(json.loads(done.stdout)["rgw"]["get_b"])

    def dns_log(self) -> str:
        return self.dns.log_path.read_text(errors="replace") if self.dns else ""

    # ---- tear down ----
    def close(self) -> None:
        if self.dns is not None:
            self.dns.stop()
        for node in [*self.nodes.values(), *self.extra]:
            node.stop()
        if self.relay is not None:
            self.relay.kill()
            self.relay.wait()
            self.relay.stdout.close()
            self.relay = None
        if self.fabric is not None:
            fabric, self.fabric = self.fabric, None
            fabric.close()
        shutil.rmtree(self.dir, ignore_errors=True)
