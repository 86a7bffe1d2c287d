"""An edge SIGKILLed while region a's clients pull: DNS stops answering it within the failover
time the shipped files state, pulls in flight fail cleanly and succeed on retry, no client ever
gets wrong bytes; the PNG timeline of it. Then the edge restarted: back in the answers, and it
serves what it had from its store without asking its origin again."""
from __future__ import annotations

import json
import time

import pytest

from .geodns import stated_failover
from .pulls import pull, push
from .scenarios import RATE, kill_under_load, warm
from .topology import region

pytestmark = pytest.mark.fleet
CLEAN_ERRORS = ("EOF", "connection reset", "connection refused", "broken pipe", "no route")


def test_edge_killed_while_clients_pull(healthy, images, record, results_dir, tmp_path):
    fleet = healthy
    layout = images("big", 1)
    push(fleet.fabric, fleet.client("a"), layout, region("a").regional, "fleet/big:v1")
    warm(fleet, layout, "fleet/big:v1", tmp_path)
    run = kill_under_load(fleet, layout, "fleet/big:v1", tmp_path)
    stated = stated_failover()
    assert run.gone_at is not None, f"DNS still answered {run.address} at the end: {run.samples[-3:]}"
    png = run.draw(results_dir / "failover.png", {e.address: e.role for e in fleet.edges("a")})
    (results_dir / "failover-samples.json").write_text(json.dumps(
        {"kill_at": run.kill_at, "dns": [(t, sorted(a)) for t, a in run.samples],
         "pulls": [a.__dict__ for a in run.attempts], "requests": run.requests}, indent=1, default=str))
    resumed = [x for e in fleet.edges("a") for x in e.requests(run.kill_at)
               if x["route"] == "blob" and x["status"] == 206]  # a client resuming a blob with Range
    record("edge_killed", failover_s=round(run.failover, 2), stated_bound_s=stated.at_server,
           stated_bound_behind_resolvers_s=stated.at_clients, pulls=len(run.attempts),
           in_flight_at_kill=len(run.in_flight), pulling_from_killed_edge=run.outcome_on_victim(),
           blob_range_requests_after_kill=len(resumed), failed_and_retried=len(run.failed),
           unrecovered=len(run.unrecovered), wrong_bytes=len(run.wrong), errors=sorted({a.error for a in run.failed}),
           shaped_to=RATE if run.shaped else "unshaped", timeline=str(png))
    assert not run.wrong, f"clients got bytes that do not match their digests: {run.wrong}"
    assert not run.unrecovered, f"pulls that failed on every retry: {[a.error for a in run.unrecovered]}"
    assert run.in_flight, "no pull was in flight when edge-a1 was killed"
    unclean = [a.error for a in run.failed if not any(s.lower() in a.error.lower() for s in CLEAN_ERRORS)]
    assert not unclean, f"pulls that failed with something other than a broken connection: {unclean}"
    assert run.failover <= stated.at_server + 1, (
        f"DNS answered the killed edge for {run.failover:.1f} s; the shipped files state {stated.at_server:g} s")
    after = [a for a in run.attempts if a.start > run.gone_at]
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
