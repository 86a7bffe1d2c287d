"""The runbook of docs/DEPLOY.md on the running fleet: add an edge (start it, check /readyz, warm
it, list it in the zone, `pdns_control bind-reload-now`), drain it (out of the zone first; no
pull reaches it once the TTL has passed), remove it (SIGTERM: nothing in flight, exit 0)."""
from __future__ import annotations

import re
import time

import pytest

from .geodns import stated_failover
from .nodes import http
from .pulls import pull, push
from .topology import SPARE_EDGE, region

pytestmark = pytest.mark.fleet


def with_edge(zone: str, region_name: str, address: str) -> str:
    """The zone with `address` appended to region `region_name`'s list of edges."""
    edges = region(region_name).edges
    listed = "{" + ", ".join(f"'{a}'" for a in edges) + "}"
    assert listed in zone, f"the zone does not list region {region_name}'s edges as {listed}"
    return zone.replace(listed, "{" + ", ".join(f"'{a}'" for a in (*edges, address)) + "}", 1)


def test_add_drain_remove_an_edge(healthy, images, record, tmp_path):
    fleet, stated = healthy, stated_failover()
    layout = images("small", 6)
    push(fleet.fabric, fleet.client("a"), layout, region("a").regional, "fleet/runbook:v1")
    shipped = fleet.dns.zone_path.read_text()
    spare = fleet.add_edge("a", SPARE_EDGE)
    try:
        status, body = http(fleet.fabric, fleet.client("a"), spare.url + "/readyz")
        assert status == 200, f"the new edge is not ready: {body[:300]!r}"
        warmed = pull(fleet.fabric, fleet.client("a"), "fleet/runbook:v1", tmp_path / "warm", layout, host=SPARE_EDGE)
        assert warmed.ok and not warmed.wrong, warmed.error
        fleet.dns.reload_zone(with_edge(shipped, "a", SPARE_EDGE))
        added = fleet.wait_answer("a", {*region("a").edges, SPARE_EDGE}, timeout=stated.at_server + 5)

        fleet.dns.reload_zone(shipped)                      # drain: out of the zone first
        drained = fleet.wait_answer("a", set(region("a").edges), timeout=stated.cache_ttl + 3)
        time.sleep(stated.ttl)                              # what resolvers cached has expired
        since = time.time()
        for i, ns in enumerate(fleet.clients["a"]):
            attempt = pull(fleet.fabric, ns, "fleet/runbook:v1", tmp_path / f"after-{i}", layout)
            assert attempt.ok and not attempt.wrong, attempt.error
        reached = [e for e in spare.requests(since) if e["route"] in ("blob", "manifest")]
        assert not reached, f"pulls reached the drained edge: {reached}"
        spare.stop()                                        # remove: a graceful stop, nothing in flight
        assert spare.proc.returncode == 0, f"{spare.role} exited {spare.proc.returncode}"
    finally:
        if re.sub(r"\s", "", fleet.dns.zone_path.read_text()) != re.sub(r"\s", "", shipped):
            fleet.dns.reload_zone(shipped)
        spare.stop()
    record("runbook_add_drain_remove", in_dns_after_reload_s=round(added, 2), stated_bound_s=stated.at_server,
           out_of_dns_after_reload_s=round(drained, 2), pulls_after_ttl=len(fleet.clients["a"]),
           requests_at_drained_edge=len(reached), exit_code=spare.proc.returncode)
