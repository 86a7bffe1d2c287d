"""What a failover looked like: DNS answers sampled from a client, requests each node logged,
and the clients' pulls, on one time axis (seconds from the kill), drawn with matplotlib.

    sampler = DnsSampler(fleet, "a"); sampler.start(); ...; sampler.stop()
    draw(path, kill_at, sampler.samples, {"edge-a1": [t, ...], ...}, attempts, failover=1.2)
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from .geodns import dig

BIN = 0.5


class DnsSampler(threading.Thread):
    """`dig` for the registry name from one client namespace every `every` seconds."""

    def __init__(self, fabric, ns: str, every: float = 0.2) -> None:
        super().__init__(name=f"dig-{ns}", daemon=True)
        self.fabric, self.ns, self.every = fabric, ns, every
        self.samples: list[tuple[float, set[str]]] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            t = time.time()
            self.samples.append((t, set(dig(self.fabric, self.ns))))
            self._halt.wait(max(0.0, self.every - (time.time() - t)))

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


def first_absence(samples: list[tuple[float, set[str]]], address: str, after: float) -> float | None:
    """The time of the first sample after `after` from which on `address` is never answered."""
    out = None
    for t, answer in samples:
        if t < after:
            continue
        if address in answer:
            out = None
        elif out is None:
            out = t
    return out


def first_presence(samples: list[tuple[float, set[str]]], address: str, after: float) -> float | None:
    return next((t for t, answer in samples if t >= after and address in answer), None)


def _dns_panel(ax, kill_at: float, samples, names: dict[str, str]) -> list[str]:
    addresses = sorted({a for _t, answer in samples for a in answer})
    for row, address in enumerate(addresses):
        xs = [t - kill_at for t, answer in samples if address in answer]
        ax.scatter(xs, [row] * len(xs), s=30, marker="|", color=f"C{row}")
    empty = [t - kill_at for t, answer in samples if not answer]
    ax.scatter(empty, [-1] * len(empty), s=12, marker="x", color="red")
    ax.set_yticks(range(-1, len(addresses)), ["(no answer)", *(f"{names.get(a, '')} {a}".strip() for a in addresses)])
    ax.set_ylim(-1.5, len(addresses) - 0.5)
    ax.set_title("DNS answers to a region-a client (dig every 0.2 s)", fontsize=9)
    return addresses


def _requests_panel(ax, kill_at: float, requests: dict[str, list[float]], span: tuple[float, float]) -> None:
    t_start, t_end = span
    bins = [t_start + i * BIN for i in range(int((t_end - t_start) / BIN) + 2)]
    for row, (role, times) in enumerate(sorted(requests.items())):
        ax.hist([t - kill_at for t in times], bins=bins, histtype="step", linewidth=1.5, color=f"C{row}",
                label=f"{role}: {len(times)} requests")
    ax.set_ylabel(f"requests / {BIN:g} s")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("blob and manifest requests each edge logged (as they ended)", fontsize=9)


def _pulls_panel(ax, kill_at: float, attempts) -> None:
    clients = sorted({a.client for a in attempts})
    for row, client in enumerate(clients):
        for a in (a for a in attempts if a.client == client):
            ax.plot([a.start - kill_at, a.end - kill_at], [row, row], linewidth=6, solid_capstyle="butt",
                    color="tab:green" if a.ok else "tab:red")
    ax.set_yticks(range(len(clients)), [c.rsplit("-", 1)[-1] for c in clients])
    ax.set_ylim(-0.6, len(clients) - 0.4)
    failed = sum(1 for a in attempts if not a.ok)
    ax.set_title(f"pulls per client: green ok and every blob verified, red failed ({failed}, each retried at once)",
                 fontsize=9)
    ax.set_xlabel("seconds from the SIGKILL")


def draw(path: Path, kill_at: float, samples, requests: dict[str, list[float]], attempts, failover: float,
         title: str, names: dict[str, str] | None = None) -> Path:
    """The PNG: DNS answers per edge address, requests per node per 0.5 s, pulls (ok / failed).
    `names`: address -> node name, for the DNS rows."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_dns, ax_req, ax_pull) = plt.subplots(3, 1, sharex=True, figsize=(10, 7.5),
                                                  gridspec_kw={"height_ratios": [1.1, 2, 1.3]})
    _dns_panel(ax_dns, kill_at, samples, names or {})
    times = [t for t, _a in samples] + [a.start for a in attempts] + [a.end for a in attempts]
    _requests_panel(ax_req, kill_at, requests, (min(times) - kill_at, max(times) - kill_at))
    _pulls_panel(ax_pull, kill_at, attempts)
    for ax in (ax_dns, ax_req, ax_pull):
        ax.axvline(0, color="red", linestyle="--", linewidth=1)
        ax.axvline(failover, color="tab:blue", linestyle=":", linewidth=1.2)
    ax_req.text(0, ax_req.get_ylim()[1] * 0.92, " SIGKILL", fontsize=8, color="red")
    ax_req.text(failover, ax_req.get_ylim()[1] * 0.80, f" out of DNS after {failover:.1f} s", fontsize=8,
                color="tab:blue")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
