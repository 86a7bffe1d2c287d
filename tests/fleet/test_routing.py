"""Where the fleet sends pulls: each region's clients to that region's edges (by their address,
or by the EDNS client-subnet a resolver sends), one S3 GET per blob per region that pulls it,
and a region that is down answered by the other region's edges."""
from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from ..dockerd import DockerEngine, require_dockerd
from .geodns import stated_failover
from .nodes import http
from .pulls import pull, push
from .topology import NAME, PORT, PROBE_ADDR, region, region_of

pytestmark = pytest.mark.fleet
BODY_ROUTES = {"blob", "manifest"}


def pulled_ok(attempt) -> None:
    assert attempt.ok, f"pull from {attempt.client} failed: {attempt.error}"
    assert not attempt.wrong, f"pull from {attempt.client} got wrong bytes: {attempt.wrong}"


def served_by_region(fleet, since: float) -> dict[str, Counter]:
    """{edge role: Counter(client region -> blob and manifest requests)} since `since`."""
    return {edge.role: Counter(region_of(e["client"]) for e in edge.requests(since) if e["route"] in BODY_ROUTES)
            for edge in fleet.edges()}


def test_pull_lands_on_own_regions_edges(healthy, images, record, tmp_path):
    fleet = healthy
    layout = images("small", 1)
    push(fleet.fabric, fleet.client("a"), layout, region("a").regional, "fleet/where:v1")
    since = time.time()
    for name in ("a", "b"):
        pulled_ok(pull(fleet.fabric, fleet.client(name), "fleet/where:v1", tmp_path / name, layout))
    served = served_by_region(fleet, since)
    for edge in fleet.edges():
        other = "b" if edge.region == "a" else "a"
        assert served[edge.role][other] == 0, f"{edge.role} served region {other}'s client: {served}"
    for name in ("a", "b"):
        own = sum(served[e.role][name] for e in fleet.edges(name))
        assert own >= 1 + len(layout.blob_digests), f"region {name}'s pull was not served by its edges: {served}"
    # a resolver of no region passing its client's subnet (EDNS client-subnet) gets that region's edges
    ecs = {name: set(fleet.probe_answer(region(name).net)) for name in ("a", "b")}
    plain = set(fleet.probe_answer(None))
    for name in ("a", "b"):
        assert ecs[name] == set(region(name).edges), f"+subnet={region(name).net} answered {ecs[name]}"
    assert plain == set(region("a").edges), f"{PROBE_ADDR} (no region, no ECS) answered {plain}"
    record("pull_lands_on_own_region",
           requests_per_edge={role: dict(c) for role, c in served.items()},
           ecs_answers={k: sorted(v) for k, v in ecs.items()}, no_region_answer=sorted(plain))


def fills_by_digest(node, since: float, digests: set[str]) -> Counter:
    """Blob GETs the node answered by fetching from its origin (cache miss), per digest."""
    return Counter(e["digest"] for e in node.requests(since)
                   if e["route"] == "blob" and e["method"] == "GET" and e["cache"] == "miss"
                   and e["digest"] in digests)


def pull_everywhere(fleet, name: str, ref: str, layout, tmp_path, rounds: int = 2) -> None:
    """Every client of region `name` pulls `ref` `rounds` times, all clients at once."""
    results, threads = [], []
    for i, ns in enumerate(fleet.clients[name]):
        def body(ns=ns, i=i):
            results.extend(pull(fleet.fabric, ns, ref, tmp_path / f"{name}{i}-{r}", layout) for r in range(rounds))
        threads.append(threading.Thread(target=body))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == rounds * len(fleet.clients[name])
    for attempt in results:
        pulled_ok(attempt)


def test_new_image_costs_one_origin_get_per_region(healthy, images, record, tmp_path):
    fleet = healthy
    layout = images("small", 2)
    blobs = layout.blob_digests
    blob_bytes = sum(layout.blob_path(d).stat().st_size for d in blobs)
    push(fleet.fabric, fleet.client("a"), layout, region("a").regional, "fleet/new:v1")
    since, s3_before = time.time(), fleet.s3_bytes_sent()
    pull_everywhere(fleet, "b", "fleet/new:v1", layout, tmp_path)
    s3_b = fleet.s3_bytes_sent() - s3_before
    gets_b = fills_by_digest(fleet.regional("b"), since, blobs)
    edge_fetches = Counter(e["digest"] for e in fleet.regional("b").requests(since)
                           if e["route"] == "blob" and e["method"] == "GET" and e["digest"] in blobs)
    pulls_b = 2 * len(fleet.clients["b"])
    assert gets_b == Counter({d: 1 for d in blobs}), f"regional-b's S3 GETs per blob: {dict(gets_b)}"
    assert all(n <= len(fleet.edges("b")) for n in edge_fetches.values()), f"edge fetches: {edge_fetches}"
    assert blob_bytes * 0.99 <= s3_b < blob_bytes * 1.5, (
        f"the gateway sent {s3_b} bytes for {blob_bytes} bytes of new blobs pulled {pulls_b} times in region b")
    pull_everywhere(fleet, "a", "fleet/new:v1", layout, tmp_path, rounds=1)
    gets_a = fills_by_digest(fleet.regional("a"), since, blobs)
    assert not gets_a, f"regional-a fetched blobs it received in the push: {dict(gets_a)}"
    record("origin_gets_per_blob", blobs=len(blobs), blob_bytes=blob_bytes, pulls_in_region_b=pulls_b,
           s3_gets_per_blob_region_b=sorted(set(gets_b.values())), s3_bytes_sent_region_b=s3_b,
           regional_b_requests_from_edges_per_blob=dict(edge_fetches),
           pulls_in_region_a=len(fleet.clients["a"]), s3_gets_region_a=sum(gets_a.values()),
           note="region a's regional node received the push and kept the bytes: 0 GETs there")


def test_region_down_answered_by_other_region(healthy, images, record, tmp_path):
    fleet = healthy
    layout = images("small", 3)
    push(fleet.fabric, fleet.client("a"), layout, region("a").regional, "fleet/far:v1")
    failover = stated_failover()
    b_nodes = [n for n in fleet.nodes.values() if n.region == "b"]
    down_at = time.time()
    for node in b_nodes:
        fleet.fabric.link(node.ns, up=False)
    moved = fleet.wait_answer("b", set(region("a").edges), timeout=failover.at_server + 5)
    since = time.time()
    pulled_ok(pull(fleet.fabric, fleet.client("b"), "fleet/far:v1", tmp_path / "pull", layout))
    served = served_by_region(fleet, since)
    from_b = sum(served[e.role]["b"] for e in fleet.edges("a"))
    assert from_b >= 1 + len(layout.blob_digests), f"region b's pull was not served by region a: {served}"
    for node in b_nodes:
        fleet.fabric.link(node.ns, up=True)
    back = fleet.wait_answer("b", set(region("b").edges), timeout=failover.at_server + 5)
    assert moved <= failover.at_server + 1, f"region b's clients moved to region a after {moved:.1f} s"
    record("region_down", answered_by_region_a_after_s=round(moved, 2), stated_bound_s=failover.at_server,
           pull_requests_served_by_region_a=from_b, back_to_region_b_after_s=round(back, 2),
           unplugged_at=down_at)


def test_docker_engine_pulls_by_name_from_its_region(healthy, images, record):
    """The Docker engine (Debian's dockerd, run inside a region-b client's namespace) resolves the
    registry name through the GeoDNS and pulls from region b's edges."""
    require_dockerd()
    fleet = healthy
    layout = images("small", 5)
    push(fleet.fabric, fleet.client("a"), layout, region("a").regional, "fleet/docker:v1")
    ns, address = fleet.client("b", 1), region("b").clients[1]
    # its own short folder under /tmp (not tmp_path): containerd's socket path must stay under
    # the 108 bytes of a unix socket address, which pytest-xdist's longer tmp paths pass
    engine = DockerEngine(prefix=tuple(fleet.fabric.argv_keep_sys(ns)),
                          daemon={"insecure-registries": [f"{NAME}:{PORT}"]})
    engine.start()
    try:
        since = time.time()
        engine.run("pull", f"{NAME}:{PORT}/fleet/docker:v1")
        digests = engine.repo_digests(f"{NAME}:{PORT}/fleet/docker:v1")
    finally:
        engine.stop()
    assert digests == [f"{NAME}:{PORT}/fleet/docker@{layout.manifest_digest}"], digests
    served = {e.role: [x for x in e.requests(since) if x["client"] == address and x["route"] in BODY_ROUTES]
              for e in fleet.edges()}
    by_region = Counter(fleet.node(role).region for role, lines in served.items() for _ in lines)
    assert by_region["a"] == 0 and by_region["b"] >= 1 + len(layout.blob_digests), (
        f"docker's pull from region b was served by {dict(by_region)}")
    record("docker_pull_by_name", engine="dockerd (Debian docker.io) in a region-b client namespace",
           requests_per_edge={role: len(lines) for role, lines in served.items()}, repo_digests=digests)


def test_regional_node_down_moves_its_region(healthy, record):
    """Region b's edges answer /readyz 503 once their origin (regional-b) is gone, so the GeoDNS
    answers region b's clients with region a's edges, whose regional node has the bucket."""
    fleet, failover = healthy, stated_failover()
    fleet.regional("b").kill()
    moved = fleet.wait_answer("b", set(region("a").edges), timeout=failover.at_server + 5)
    status, body = http(fleet.fabric, fleet.probe, fleet.edges("b")[0].url + "/readyz")
    assert status == 503, f"edge-b1's /readyz with its regional node down: {status} {body[:300]!r}"
    fleet.regional("b").start()
    back = fleet.wait_answer("b", set(region("b").edges), timeout=failover.at_server + 5)
    assert moved <= failover.at_server + 1, f"region b's clients moved to region a after {moved:.1f} s"
    record("regional_down", answered_by_region_a_after_s=round(moved, 2), edge_readyz=status,
           back_after_restart_s=round(back, 2), stated_bound_s=failover.at_server)
