"""What the node tells its operators: every Prometheus metric, declared in one place, and the
facts of the current request that its access-log line reports.

Metrics (prometheus-client). Across `--workers`, `ocicache serve` calls
`share_across_processes(<data_dir>/metrics)` before any worker forks (the folder emptied at
start): each worker then writes its samples to memory-mapped files there and `/metrics`,
answered by any worker, sums all of them (prometheus-client's multiprocess mode). Counters
and histograms are summed over every worker that ever ran since start; `fills_in_flight`
counts live workers only; `store_bytes` is the latest value any worker read from the shared
index. Without that call (tests building the app in-process, CLI commands), the metrics live
in this process's default registry.

Request facts. The access middleware (`ocicache.http.access`) opens a fresh dict per request
(`begin`/`end`); code deeper down (the cache, the admin API) adds facts with
`note(cache="hit")`. Outside a request (warm-up, CLI) `note` does nothing. Tasks created
during a request share its dict. Code elsewhere records a metric with one line; the helpers
below also note what the access-log line says about the cache.
"""
from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest, multiprocess, values

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_DECLARED: list[Any] = []
_ANSWERED: dict[tuple[str, str, int], tuple[Any, Any]] = {}  # labelled children, looked up once


def _declare() -> None:
    """Create every metric (again): a metric's value store is chosen when it is created."""
    global REQUESTS, REQUEST_SECONDS, SERVED_BYTES, CACHE_LOOKUPS, ORIGIN_BYTES, FILLS_IN_FLIGHT, FILL_SECONDS, ORIGIN_SECONDS, EVICTIONS, CACHE_FULL, STORE_BYTES, UPLOAD_BYTES, RATE_LIMITED
    for metric in _DECLARED:
        REGISTRY.unregister(metric)
    REQUESTS = Counter("ocicache_http_requests", "HTTP requests answered, by route, method and status.",
                       ["route", "method", "status"])
    REQUEST_SECONDS = Histogram("ocicache_http_request_duration_seconds",
                                "Time from request to the end of the handler (blob bodies included).",
                                ["route"], buckets=_LATENCY)
    SERVED_BYTES = Counter("ocicache_served_bytes", "Blob and manifest body bytes sent to clients, by source: "
                           "cache (a hit in the local store), origin (a miss or a fill in flight), "
                           "local (a file:// origin's own files).", ["source"])
    CACHE_LOOKUPS = Counter("ocicache_cache_lookups", "Blob and manifest lookups in the local store: hit, "
                            "miss (this request started a fill), fill (joined a fill in flight).", ["result"])
    ORIGIN_BYTES = Counter("ocicache_origin_fetched_bytes", "Blob bytes fetched from the origin by fills.")
    FILLS_IN_FLIGHT = Gauge("ocicache_fills_in_flight", "Blobs being fetched from the origin now.",
                            multiprocess_mode="livesum")
    FILL_SECONDS = Histogram("ocicache_fill_duration_seconds", "Time to fetch, verify and commit one blob, "
                             "by outcome (ok, failed).", ["outcome"], buckets=_LATENCY)
    ORIGIN_SECONDS = Histogram("ocicache_origin_request_duration_seconds", "Time until the origin's "
                               "response headers arrived, by HTTP method.", ["method"], buckets=_LATENCY)
    EVICTIONS = Counter("ocicache_cache_evictions", "Blobs evicted from the local store (LRU or purge).")
    CACHE_FULL = Counter("ocicache_cache_disk_full", "Blob pulls served from the origin without caching "
                         "because the cache disk had no room for them.")
    STORE_BYTES = Gauge("ocicache_store_bytes", "Bytes held by the local blob store.",
                        multiprocess_mode="mostrecent")
    UPLOAD_BYTES = Counter("ocicache_upload_bytes", "Bytes received in blob uploads (pushes).")
    RATE_LIMITED = Counter("ocicache_rate_limited_requests", "Requests refused with 429 TOOMANYREQUESTS.")
    _ANSWERED.clear()
    _DECLARED[:] = [REQUESTS, REQUEST_SECONDS, SERVED_BYTES, CACHE_LOOKUPS, ORIGIN_BYTES, FILLS_IN_FLIGHT, FILL_SECONDS, ORIGIN_SECONDS, EVICTIONS, CACHE_FULL, STORE_BYTES, UPLOAD_BYTES, RATE_LIMITED]


_declare()


def share_across_processes(directory: Path) -> None:
    """Make this process and the workers it forks write samples to files in `directory`, which
    `render` sums. prometheus-client picks its value store from PROMETHEUS_MULTIPROC_DIR when a
    metric is created, so the metrics are created again now."""
    os.environ[MULTIPROC_ENV] = str(directory)
    values.ValueClass = values.get_value_class()
    _declare()



def request_answered(route: str, method: str, status: int, seconds: float) -> None:
    """One request answered: counted by route, method and status, timed by route. The labelled
    children are kept: finding them is most of a metric's cost at thousands of requests a second."""
    key = (route, method, status)
    children = _ANSWERED.get(key)
    if children is None:
        children = _ANSWERED[key] = (REQUESTS.labels(route, method, str(status)), REQUEST_SECONDS.labels(route))
        if len(_ANSWERED) > 4096:  # routes and methods are a fixed set, statuses nearly so
            _ANSWERED.clear()
    children[0].inc()
    children[1].observe(seconds)
    if status == 429:
        RATE_LIMITED.inc()


def cache_lookup(result: str) -> None:
    """A store lookup of the current request: 'hit', 'miss' or 'fill'."""
    CACHE_LOOKUPS.labels(result).inc()
    note(cache=result)


def render() -> tuple[bytes, str]:
    """The exposition text of every worker (multiprocess) or of this process."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def worker_exited(pid: int) -> None:
    """Drop a dead worker's live gauges (called by the parent when a worker ends)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)


def fill_ended(ok: bool, seconds: float) -> None:
    FILLS_IN_FLIGHT.dec()
    FILL_SECONDS.labels("ok" if ok else "failed").observe(seconds)


def fill_started() -> None:
    """A request missed the store and started a fill."""
    FILLS_IN_FLIGHT.inc()
    cache_lookup("miss")


# ---- facts of the current request (its access-log line) ----
_FACTS: ContextVar[dict[str, Any] | None] = ContextVar("ocicache_request_facts", default=None)


def begin() -> tuple[dict[str, Any], object]:
    """Open the facts of a new request; returns (facts, token for `end`)."""
    facts: dict[str, Any] = {}
    return facts, _FACTS.set(facts)


def end(token: object) -> None:
    _FACTS.reset(token)  # type: ignore[arg-type]


def note(**facts: Any) -> None:
    """Record facts about the current request; the first value of a key wins."""
    current = _FACTS.get()
    if current is not None:
        for key, value in facts.items():
            current.setdefault(key, value)
