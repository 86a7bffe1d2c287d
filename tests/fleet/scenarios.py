"""The failover run shared by the test and the operator's demo: region-a clients pull in loops,
edge-a1 is SIGKILLed while one of them pulls from it, DNS answers are sampled throughout.

    run = kill_under_load(fleet, layout, "fleet/big:v1", workdir)
    run.failover, run.in_flight, run.failed, run.wrong; run.draw(path)
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from .geodns import stated_failover
from .pulls import Attempt, PullLoop, pull
from .timeline import DnsSampler, draw, first_absence
from .topology import PORT, region

RATE = "100mbit"         # each region-a edge sends at most this much while the kill scenario runs
BEFORE, AFTER = 5.0, 3.0  # seconds of pulls before the kill, and after DNS has left the edge out
VICTIM = "edge-a1"


def wait_for(predicate, timeout: float, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(every)
    return None


def warm(fleet, layout, ref: str, workdir: Path) -> None:
    """Pull through each region-a edge by its address, so the run measures edges serving."""
    for edge in fleet.edges("a"):
        attempt = pull(fleet.fabric, fleet.client("a"), ref, workdir / f"warm-{edge.role}", layout, host=edge.address)
        if not attempt.ok or attempt.wrong:
            raise AssertionError(f"warming {edge.role} with {ref}: {attempt.error} {attempt.wrong}")


@dataclass
class KillRun:
    kill_at: float
    since: float
    samples: list
    loops: list
    shaped: bool
    address: str
    on_victim: list[str]                  # clients pulling over a connection to the victim at the kill
    requests: dict[str, list[float]] = field(default_factory=dict)

    @property
    def gone_at(self) -> float | None:
        return first_absence(self.samples, self.address, self.kill_at)

    @property
    def failover(self) -> float | None:
        return None if self.gone_at is None else self.gone_at - self.kill_at

    @property
    def attempts(self) -> list[Attempt]:
        return [a for loop in self.loops for a in loop.attempts]

    @property
    def in_flight(self) -> list[Attempt]:
        return [a for a in self.attempts if a.start < self.kill_at < a.end]

    def outcome_on_victim(self) -> dict[str, str]:
        """Per client pulling from the victim at the kill: what became of that pull."""
        out = {}
        for a in self.in_flight:
            if a.client in self.on_victim:
                out[a.client.rsplit("-", 1)[-1]] = ("completed, verified" if a.ok
                                                    else f"failed: {a.error}; retried")
        return out

    @property
    def failed(self) -> list[Attempt]:
        return [a for a in self.attempts if not a.ok]

    @property
    def wrong(self) -> list[tuple[str, list[str]]]:
        return [(a.client, a.wrong) for a in self.attempts if a.wrong]

    @property
    def unrecovered(self) -> list[Attempt]:
        return [a for loop in self.loops for a in loop.unrecovered]

    def draw(self, path: Path, names: dict[str, str]) -> Path:
        stated = stated_failover()
        title = (f"{VICTIM} SIGKILLed while {len(self.loops)} region-a clients pull: out of DNS after "
                 f"{self.failover:.1f} s (stated bound {stated.at_server:g} s)\n{len(self.attempts)} pulls, "
                 f"{len(self.failed)} failed and succeeded on retry, {len(self.wrong)} with wrong bytes")
        return draw(path, self.kill_at, self.samples, self.requests, self.attempts, self.failover or 0.0,
                    title, names)


def kill_under_load(fleet, layout, ref: str, workdir: Path) -> KillRun:
    """Pull loops on every region-a client, SIGKILL edge-a1 once a client is pulling from it, go on
    until DNS has left it out for AFTER seconds."""
    victim = fleet.node(VICTIM)
    shaped = all([fleet.fabric.shape(e.ns, RATE) for e in fleet.edges("a")])
    sampler = DnsSampler(fleet.fabric, fleet.client("a"))
    loops = [PullLoop(fleet.fabric, ns, ref, layout, workdir) for ns in fleet.clients["a"]]
    clients = dict(zip(fleet.clients["a"], region("a").clients))
    since = time.time()
    try:
        sampler.start()
        for loop in loops:
            loop.start()
        time.sleep(BEFORE)

        def pulling_from_victim():
            peers = fleet.fabric.peers(victim.ns, PORT)
            return [loop for loop in loops if loop.current_start and clients[loop.ns] in peers]
        on_victim = wait_for(pulling_from_victim, 20)
        if not on_victim:
            raise AssertionError(f"no region-a client pulled from {VICTIM} within 20 s")
        kill_at = victim.kill()
        wait_for(lambda: first_absence(sampler.samples, victim.address, kill_at), stated_failover().at_server + 5)
        time.sleep(AFTER)
    finally:
        for loop in loops:
            loop.stop()
        sampler.stop()
        for edge in fleet.edges("a"):
            fleet.fabric.unshape(edge.ns)
    run = KillRun(kill_at, since, sampler.samples, loops, shaped, victim.address, [loop.ns for loop in on_victim])
    run.requests = {e.role: [x["t"] for x in e.requests(since) if x["route"] in ("blob", "manifest")]
                    for e in fleet.edges("a")}
    return run
