"""Build the two-region fleet on this machine and show what it does (root; Debian packages of
`make system-deps`). Everything lives in network namespaces it creates and removes.

    sudo .venv/bin/python -m tests.fleet.demo              # tour: answers, pulls, a SIGKILL, a restart
    sudo .venv/bin/python -m tests.fleet.demo --hold       # then keep it up until Ctrl-C
    deploy/geodns/fleet-demo.sh [--hold] [--out DIR]       # the same

The tour pushes an image to region a's regional node, shows what the GeoDNS answers each region
(and a resolver passing EDNS client-subnet), pulls from both regions, SIGKILLs edge-a1 while
region a's clients pull (timeline PNG in --out), restarts it and pulls from its store.
"""
from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

from ..clients.images import Shape, build
from ..rgw import RGWServer, missing_binaries
from .fleet import Fleet
from .geodns import stated_failover
from .netns import missing_requirements
from .nodes import REPO
from .pulls import pull, push
from .scenarios import VICTIM, kill_under_load, warm
from .topology import NAME, PORT, region

MiB = 1024 * 1024


def say(text: str) -> None:
    print(f"[fleet-demo] {text}", flush=True)


def show_layout(fleet: Fleet) -> None:
    for node in fleet.nodes.values():
        say(f"{node.role:12} {node.url:28} origin {node.origin}  (netns {node.ns}, log {node.log_path})")
    for name, namespaces in fleet.clients.items():
        say(f"clients of region {name}: {', '.join(namespaces)}")
    for name in ("a", "b"):
        say(f"{NAME} for region {name}'s clients: {sorted(fleet.answer(name))}; "
            f"for +subnet={region(name).net}: {sorted(fleet.probe_answer(region(name).net))}")


def tour(fleet: Fleet, workdir: Path, out: Path) -> None:
    layout = build(Shape("demo", (6 * MiB, 6 * MiB)), workdir / "image", seed=7)
    push(fleet.fabric, fleet.client("a"), layout, region("a").regional, "demo/app:v1")
    say(f"pushed demo/app:v1 ({layout.total_bytes} bytes) to regional-a {region('a').regional}:{PORT}")
    for name in ("a", "b"):
        attempt = pull(fleet.fabric, fleet.client(name), "demo/app:v1", workdir / f"pull-{name}", layout)
        say(f"pull from region {name}: {'ok, every blob verified' if attempt.ok and not attempt.wrong else attempt.error}"
            f" in {attempt.seconds:.2f} s")
    warm(fleet, layout, "demo/app:v1", workdir)
    stated = stated_failover()
    say(f"SIGKILL {VICTIM} while region a's clients pull (stated failover: {stated.at_server:g} s at the DNS "
        f"server, {stated.at_clients:g} s behind caching resolvers) ...")
    run = kill_under_load(fleet, layout, "demo/app:v1", workdir)
    say(f"out of DNS after {run.failover:.2f} s; {len(run.attempts)} pulls, {len(run.in_flight)} in flight at the "
        f"kill, {len(run.failed)} failed and succeeded on retry, {len(run.wrong)} with wrong bytes")
    png = run.draw(out / "failover.png", {e.address: e.role for e in fleet.edges("a")})
    say(f"timeline: {png}")
    edge = fleet.node(VICTIM)
    edge.start()
    back = fleet.wait_answer("a", set(region("a").edges), timeout=stated.at_server + 5)
    since = time.time()
    again = pull(fleet.fabric, fleet.client("a"), "demo/app:v1", workdir / "again", layout, host=edge.address)
    hits = [e["cache"] for e in edge.requests(since) if e["route"] == "blob" and e["method"] == "GET"]
    say(f"{VICTIM} restarted: back in DNS {back:.2f} s after it was up; a pull from it "
        f"{'ok' if again.ok else again.error}, blobs served {hits}")


def _terminate(_signum, _frame) -> None:
    raise SystemExit(143)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The ocicache fleet demo (network namespaces, GeoDNS).")
    parser.add_argument("--hold", action="store_true", help="keep the fleet up after the tour, until Ctrl-C")
    parser.add_argument("--no-tour", action="store_true", help="only build it (with --hold: to explore)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "fleet-demo")
    args = parser.parse_args(argv)
    why = missing_requirements() + [f"{b} not installed" for b in missing_binaries()]
    if why:
        print("fleet-demo cannot run here: " + "; ".join(why) + " (run `sudo make system-deps`)", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _terminate)  # tear down on SIGTERM too, not only on Ctrl-C
    with tempfile.TemporaryDirectory(prefix="ocfleet-demo-") as tmp:
        rgw = RGWServer().start()
        try:
            say(f"S3: Ceph RGW on {rgw.url} (reached from the fleet through the relay at 192.0.2.80:80)")
            with Fleet(rgw, Path(tmp) / "fleet") as fleet:
                say(f"fleet built in {fleet.started_in:.1f} s")
                show_layout(fleet)
                if not args.no_tour:
                    tour(fleet, Path(tmp), args.out)
                if args.hold:
                    say(f"up; try: ip netns exec {fleet.client('a')} dig {NAME}  |  ip netns exec "
                        f"{fleet.client('b')} skopeo inspect --tls-verify=false docker://{NAME}:{PORT}/demo/app:v1")
                    say("Ctrl-C tears it down")
                    try:
                        while True:
                            time.sleep(3600)
                    except KeyboardInterrupt:
                        pass
        finally:
            rgw.stop()
    say("torn down: every namespace and process removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
