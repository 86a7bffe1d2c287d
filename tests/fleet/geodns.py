"""The shipped health-checked GeoDNS (deploy/geodns/lua/) run inside the fleet's DNS namespace.

The zone and pdns.conf are copied as shipped; only addresses are substituted (`addresses`, a
map from shipped to fleet address: the fleet uses the shipped documentation addresses, so it is
empty unless a caller moves them) and the paths of this run are given to pdns_server on its
command line (`--bind-config`, `--socket-dir`) and in named.conf (the zone file's folder).
`stated_failover()` reads the failover time the shipped files state, so the test's bound moves
with them.
"""
from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..nodeproc import stop_process
from .netns import Fabric, die_with_parent
from .topology import DNS_ADDR, NAME, fleet_addresses

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "geodns" / "lua"
ZONE_FILE = f"{NAME}.zone"
_IPV4 = re.compile(r"\b(?:\d{1,3}\.){3}\d{1,3}\b")


@dataclass(frozen=True)
class Failover:
    interval: float     # lua-health-checks-interval
    timeout: float      # ifurlup timeout in the zone
    cache_ttl: float    # packet cache
    ttl: float          # the record's TTL (resolvers' caches)

    @property
    def at_server(self) -> float:
        """Worst case from an edge's death to this server's answers without it."""
        return self.interval + self.timeout + self.cache_ttl

    @property
    def at_clients(self) -> float:
        """... and to clients behind a caching resolver."""
        return self.at_server + self.ttl


def _setting(text: str, key: str) -> str:
    match = re.search(rf"^\s*{re.escape(key)}\s*=\s*(\S+)", text, re.M)
    if not match:
        raise AssertionError(f"{SHIPPED / 'pdns.conf'} does not set {key}")
    return match.group(1)


def stated_failover() -> Failover:
    conf = (SHIPPED / "pdns.conf").read_text()
    zone = (SHIPPED / ZONE_FILE).read_text()
    timeout = re.search(r"timeout\s*=\s*'(\d+)'", zone)
    ttl = re.search(r"^\$TTL\s+(\d+)", zone, re.M)
    if not (timeout and ttl):
        raise AssertionError(f"{SHIPPED / ZONE_FILE}: no $TTL or no ifurlup timeout found")
    return Failover(float(_setting(conf, "lua-health-checks-interval")), float(timeout.group(1)),
                    float(_setting(conf, "cache-ttl")), float(ttl.group(1)))


def substitute(text: str, addresses: dict[str, str]) -> str:
    return _IPV4.sub(lambda m: addresses.get(m.group(0), m.group(0)), text)


def check_addresses(text: str, addresses: dict[str, str], what: str) -> None:
    """Every address the shipped file names must be one the fleet has (after substitution)."""
    unknown = {a for a in _IPV4.findall(substitute(text, addresses)) if a not in fleet_addresses()}
    if unknown:
        raise AssertionError(f"{what} names {sorted(unknown)}, which the fleet harness does not run: "
                             "add them to tests/fleet/topology.py or map them in GeoDNS(addresses=...)")


class GeoDNS:
    def __init__(self, fabric: Fabric, ns: str, workdir: Path, addresses: dict[str, str] | None = None) -> None:
        self.fabric, self.ns, self.dir = fabric, ns, Path(workdir)
        self.addresses = dict(addresses or {})
        self.proc: subprocess.Popen | None = None
        self.log_path = self.dir / "pdns.log"

    def prepare(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        for name in ("pdns.conf", ZONE_FILE):
            text = (SHIPPED / name).read_text()
            check_addresses(text, self.addresses, f"deploy/geodns/lua/{name}")
            (self.dir / name).write_text(substitute(text, self.addresses))
        named = (SHIPPED / "named.conf").read_text().replace("/etc/powerdns", str(self.dir))
        (self.dir / "named.conf").write_text(named)

    def start(self, timeout: float = 20.0) -> None:
        self.prepare()
        argv = self.fabric.argv(self.ns, "pdns_server", f"--config-dir={self.dir}", "--guardian=no",
                                "--daemon=no", "--write-pid=no", "--disable-syslog", f"--socket-dir={self.dir}",
                                f"--bind-config={self.dir / 'named.conf'}", "--security-poll-suffix=")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if dig(self.fabric, self.ns, qtype="SOA"):
                return
            time.sleep(0.1)
        tail = self.log_path.read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"pdns_server did not answer on {DNS_ADDR}:53 within {timeout:.0f} s; its log:\n{tail}")

    @property
    def zone_path(self) -> Path:
        return self.dir / ZONE_FILE

    def reload_zone(self, text: str) -> None:
        """Write the running zone and have pdns read it again (`pdns_control bind-reload-now`)."""
        self.zone_path.write_text(text)
        done = subprocess.run(["pdns_control", f"--config-dir={self.dir}", f"--socket-dir={self.dir}",
                               "bind-reload-now", NAME], capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=30)
        if done.returncode != 0 or "parsed into memory" not in done.stdout:
            raise RuntimeError(f"pdns_control bind-reload-now {NAME}: {done.stdout.strip()} {done.stderr.strip()}")

    def stop(self) -> None:
        stop_process(self.proc, grace=5)
        self.proc = None


def dig(fabric: Fabric, ns: str, subnet: str | None = None, qtype: str = "A") -> list[str]:
    """`dig +short` for the registry name from namespace `ns` (`subnet`: send it as EDNS
    client-subnet); the answer's records, [] when there is none or no server answered."""
    argv = fabric.argv(ns, "dig", "+short", "+time=1", "+tries=1", f"@{DNS_ADDR}", NAME, qtype,
                       *([f"+subnet={subnet}"] if subnet else []))
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=10)
    lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    if done.returncode != 0 or any(line.startswith(";;") for line in lines):
        return []
    return lines
