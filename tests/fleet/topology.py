"""The fleet the harness builds: the documentation addresses of deploy/geodns/lua/ (the zone the
test runs names these), one subnet per region plus one for the DNS server and the S3 relay. All
subnets share one bridge; hosts reach the other subnets on-link, so no router is needed.

    infra   192.0.2.0/24      dns .53, S3 relay .80 (-> the suite's RGW on 127.0.0.1)
    a       198.51.100.0/24   regional .10, edges .11 .12, clients .101 .102 .103
    b       203.0.113.0/24    regional .10, edges .11 .12, clients .101 .102
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

NAME = "registry.example.net"
PORT = 5000
INFRA_NET = "192.0.2.0/24"
DNS_ADDR = "192.0.2.53"
S3_ADDR, S3_PORT = "192.0.2.80", 80
PROBE_ADDR = "192.0.2.200"          # a host of no region: the harness's own vantage point
SPARE_EDGE = "198.51.100.13"        # the edge the runbook test adds to region a (not in the zone)


@dataclass(frozen=True)
class Region:
    name: str
    net: str
    regional: str
    edges: tuple[str, ...]
    clients: tuple[str, ...]

    def edge_role(self, i: int) -> str:
        return f"edge-{self.name}{i + 1}"

    @property
    def regional_role(self) -> str:
        return f"regional-{self.name}"

    def client_role(self, i: int) -> str:
        return f"client-{self.name}{i + 1}"


REGIONS = (
    Region("a", "198.51.100.0/24", "198.51.100.10", ("198.51.100.11", "198.51.100.12"),
           ("198.51.100.101", "198.51.100.102", "198.51.100.103")),
    Region("b", "203.0.113.0/24", "203.0.113.10", ("203.0.113.11", "203.0.113.12"),
           ("203.0.113.101", "203.0.113.102")),
)
NETS = (INFRA_NET, *(r.net for r in REGIONS))


def region(name: str) -> Region:
    return next(r for r in REGIONS if r.name == name)


def other_nets(own: str) -> list[str]:
    """The subnets a host of `own` reaches on the shared wire."""
    return [net for net in NETS if net != own]


def fleet_addresses() -> set[str]:
    """Every address the fleet uses, and its networks' addresses."""
    out = {DNS_ADDR, S3_ADDR, PROBE_ADDR, SPARE_EDGE, *(net.split("/")[0] for net in NETS)}
    for r in REGIONS:
        out |= {r.regional, *r.edges, *r.clients}
    return out


def region_of(address: str) -> str | None:
    """The region whose network holds `address` (None: the infrastructure network)."""
    ip = ipaddress.ip_address(address)
    return next((r.name for r in REGIONS if ip in ipaddress.ip_network(r.net)), None)
