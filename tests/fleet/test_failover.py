"""An edge SIGKILLed while region a's clients pull: DNS stops answering it within the failover
time the shipped files state, pulls in flight fail cleanly and succeed on retry, no client ever
gets wrong bytes; the PNG timeline of it. Then the edge restarted: back in the answers, and it
serves what it had from its store without asking its origin again."""
from __future__ import annotations

import json
import time

import pytest

from .geodns import stated_failover
from .pulls import PullLoop, pull, push
from .timeline import DnsSampler, draw, first_absence
from .topology import PORT, region

pytestmark = pytest.mark.fleet
RATE = "100mbit"         # each region-a edge sends at most this much while the kill scenario runs
CLEAN_ERRORS = ("EOF", "connection reset", "connection refused", "broken pipe", "reading blob", "no route")


def wait_for(predicate, timeout: float, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(every)
    return None


def warm(fleet, layout, ref: str, tmp_path) -> None:
    """Pull through each region-a edge by its address, so the scenario measures edges serving."""
    for edge in fleet.edges("a"):
        attempt = pull(fleet.fabric, fleet.client("a"), ref, tmp_path / f"warm-{edge.role}", layout, host=edge.address)
        assert attempt.ok and not attempt.wrong, f"warming {edge.role}: {attempt.error} {attempt.wrong}"


def run_kill(fleet, layout, ref: str, tmp_path):
    """Pull loops on every region-a client, SIGKILL edge-a1 once a client is pulling from it, go on
    until DNS has left it out for 3 s; (kill time, samples, loops, shaped)."""
    victim = fleet.node("edge-a1")
    shaped = all([fleet.fabric.shape(e.ns, RATE) for e in fleet.edges("a")])
    sampler = DnsSampler(fleet.fabric, fleet.client("a"))
    loops = [PullLoop(fleet.fabric, ns, ref, layout, tmp_path) for ns in fleet.clients["a"]]
    clients = {ns: addr for ns, addr in zip(fleet.clients["a"], region("a").clients)}
    try:
        sampler.start()
        for loop in loops:
            loop.start()
        time.sleep(5)  # a stretch of normal traffic before the kill

        def pulling_from_victim():
            peers = fleet.fabric.peers(victim.ns, PORT)
            return [l for l in loops if l.current_start and clients[l.ns] in peers]
        assert wait_for(pulling_from_victim, 20), "no client pulled from edge-a1 within 20 s"
        kill_at = victim.kill()
        wait_for(lambda: first_absence(sampler.samples, victim.address, kill_at), stated_failover().at_server + 5)
        time.sleep(3)
    finally:
        for loop in loops:
            loop.stop()
        sampler.stop()
        for edge in fleet.edges("a"):
            fleet.fabric.unshape(edge.ns)
    return kill_at, sampler.samples, loops, shaped


def test_edge_killed_while_clients_pull(healthy, images, record, results_dir, tmp_path):
    fleet = healthy
    layout = images("big", 1)
    push(fleet.fabric, fleet.client("a"), layout, region("a").regional, "fleet/big:v1")
    warm(fleet, layout, "fleet/big:v1", tmp_path)
    since = time.time()
    kill_at, samples, loops, shaped = run_kill(fleet, layout, "fleet/big:v1", tmp_path)
    victim, stated = fleet.node("edge-a1"), stated_failover()
    gone = first_absence(samples, victim.address, kill_at)
    assert gone is not None, f"DNS still answered {victim.address} at the end: {samples[-3:]}"
    failover = gone - kill_at
    attempts = [a for loop in loops for a in loop.attempts]
    in_flight = [a for a in attempts if a.start < kill_at < a.end]
    failed = [a for a in attempts if not a.ok]
    wrong = [(a.client, a.wrong) for a in attempts if a.wrong]
    unrecovered = [a for loop in loops for a in loop.unrecovered]
    requests = {e.role: [x["t"] for x in e.requests(since) if x["route"] in ("blob", "manifest")]
                for e in fleet.edges("a")}
    png = draw(results_dir / "failover.png", kill_at, samples, requests, attempts, failover,
               f"edge-a1 SIGKILLed while {len(loops)} region-a clients pull: out of DNS after {failover:.1f} s "
               f"(stated bound {stated.at_server:g} s)\n{len(attempts)} pulls, {len(failed)} failed and succeeded "
               f"on retry, {len(wrong)} with wrong bytes", names={e.address: e.role for e in fleet.edges("a")})
    (results_dir / "failover-samples.json").write_text(json.dumps(
        {"kill_at": kill_at, "dns": [(t, sorted(a)) for t, a in samples],
         "pulls": [a.__dict__ for a in attempts], "requests": requests}, indent=1, default=str))
    record("edge_killed", failover_s=round(failover, 2), stated_bound_s=stated.at_server,
           stated_bound_behind_resolvers_s=stated.at_clients, pulls=len(attempts), in_flight_at_kill=len(in_flight),
           failed_and_retried=len(failed), unrecovered=len(unrecovered), wrong_bytes=len(wrong),
           errors=sorted({a.error for a in failed}), shaped_to=RATE if shaped else "unshaped", timeline=str(png))
    assert not wrong, f"clients got bytes that do not match their digests: {wrong}"
    assert not unrecovered, f"pulls that failed on every retry: {[a.error for a in unrecovered]}"
    assert in_flight, "no pull was in flight when edge-a1 was killed"
    unclean = [a.error for a in failed if not any(s.lower() in a.error.lower() for s in CLEAN_ERRORS)]
    assert not unclean, f"pulls that failed with something other than a connection error: {unclean}"
    assert failover <= stated.at_server + 1, (
        f"DNS answered the killed edge for {failover:.1f} s; the shipped files state {stated.at_server:g} s")
    after = [a for a in attempts if a.start > gone]
    assert after and all(a.ok for a in after), f"pulls after the failover failed: {[a.error for a in after]}"


def test_killed_edge_restarted_serves_from_its_store(healthy, images, record, tmp_path):
    fleet = healthy
    layout = images("small", 4)
    edge, regional = fleet.node("edge-a1"), fleet.regional("a")
    push(fleet.fabric, fleet.client("a"), layout, region("a").regional, "fleet/back:v1")
    first = pull(fleet.fabric, fleet.client("a"), "fleet/back:v1", tmp_path / "first", layout, host=edge.address)
    assert first.ok and not first.wrong, first.error
    stated = stated_failover()
    kill_at = edge.kill()
    fleet.wait_answer("a", {region("a").edges[1]}, timeout=stated.at_server + 5)
    edge.launch()
    started = time.time()
    edge.wait_up()
    up_at = time.time()
    back = fleet.wait_answer("a", set(region("a").edges), timeout=stated.at_server + 5)
    since = time.time()
    again = pull(fleet.fabric, fleet.client("a"), "fleet/back:v1", tmp_path / "again", layout, host=edge.address)
    assert again.ok and not again.wrong, again.error
    blob_gets = [e for e in edge.requests(since) if e["route"] == "blob" and e["method"] == "GET"]
    refetched = [e for e in regional.requests(since)
                 if e["route"] == "blob" and e["client"] == edge.address and e["digest"] in layout.blob_digests]
    assert {e["digest"] for e in blob_gets} == layout.blob_digests, f"blob GETs at {edge.role}: {blob_gets}"
    assert all(e["cache"] == "hit" for e in blob_gets), f"{edge.role} after restart: {blob_gets}"
    assert not refetched, f"{edge.role} asked regional-a again for blobs it had: {refetched}"
    record("edge_restarted", down_s=round(started - kill_at, 2), start_s=round(up_at - started, 2),
           back_in_dns_after_ready_s=round(back, 2),
           stated_bound_s=stated.at_server, blob_gets=len(blob_gets),
           served_from_store=sum(e["cache"] == "hit" for e in blob_gets), refetched_from_regional=len(refetched))
    assert back <= stated.at_server + 1, f"{edge.role} was back in DNS {back:.1f} s after it was ready"
