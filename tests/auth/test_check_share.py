"""The bound on password checks running at once is the node's (issue 21): each of N workers
runs its share of `login_checks` and `login_checks_per_ip` (rounded down, at least 1), so
`--workers N` does not multiply them (docs/SECURITY.md, "Failed logins")."""
from __future__ import annotations

import asyncio
import threading
from collections import Counter

from ocicache.auth.checkslots import CheckSlots, worker_share
from ocicache.auth.login import Logins


def test_each_worker_gets_its_share_of_the_node_bound_and_at_least_one():
    assert [worker_share(8, workers) for workers in (1, 2, 3, 4, 8, 16)] == [8, 4, 2, 2, 1, 1]
    assert worker_share(1, 1) == 1


def test_a_worker_built_from_the_config_takes_its_share(cfg):
    node = cfg.replace(server={"workers": 4}, ratelimit={"login_checks": 8, "login_checks_per_ip": 4})
    slots = Logins(None, node).slots
    assert (slots.total, slots.per_ip) == (2, 1)
    single = cfg.replace(server={"workers": 1}, ratelimit={"login_checks": 8, "login_checks_per_ip": 4})
    slots = Logins(None, single).slots
    assert (slots.total, slots.per_ip) == (8, 4)


async def test_two_workers_together_run_no_more_than_the_node_bound():
    """Two workers' slots (each with its own threads, as in two processes), 12 checks from 3
    addresses on each: at most login_checks run at once on the node, login_checks_per_ip for
    one address."""
    node_total, node_per_ip, workers = 4, 2, 2
    slots = [CheckSlots(worker_share(node_total, workers), worker_share(node_per_ip, workers))
             for _ in range(workers)]
    lock, running, peak = threading.Lock(), Counter(), Counter()
    gate = threading.Event()

    def check(ip: str) -> None:
        with lock:
            for key in ("node", ip):
                running[key] += 1
                peak[key] = max(peak[key], running[key])
        assert gate.wait(10)
        with lock:
            for key in ("node", ip):
                running[key] -= 1

    tasks = [asyncio.create_task(s.run(f"10.0.0.{i % 3}", check, f"10.0.0.{i % 3}"))
             for s in slots for i in range(12)]
    await asyncio.sleep(0.3)  # every check that may start has started, the rest wait for a slot
    with lock:
        held = dict(running)
    gate.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 30)
    print(f"\nchecks running while held: {held}; peaks: {dict(peak)}")
    assert held["node"] == node_total  # the node's bound is reached with work waiting...
    assert peak["node"] == node_total  # ...and never passed
    assert max(peak[ip] for ip in peak if ip != "node") <= node_per_ip
