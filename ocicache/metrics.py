"""Every metric the node exports, declared in one place (Prometheus, via prometheus-client).

Across `--workers`: `ocicache serve` sets PROMETHEUS_MULTIPROC_DIR to <data_dir>/metrics
(emptied at start, before any worker forks) before this module is first imported, so each
worker writes its samples to memory-mapped files there and `/metrics`, answered by any
worker, sums all of them (prometheus-client's multiprocess mode). Counters and histograms
are summed over every worker that ever ran since start; `fills_in_flight` counts live
workers only; `store_bytes` is the latest value any worker read from the shared index.
Imported without that variable (tests building the app in-process, CLI commands), the
metrics live in this process's default registry.

Code elsewhere calls these with one line; the helpers below also record what the access
log line of the current request says about the cache (see `ocicache.observe`).
"""
from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest, multiprocess

from . import observe

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

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


def cache_lookup(result: str) -> None:
    """A store lookup of the current request: 'hit', 'miss' or 'fill'."""
    CACHE_LOOKUPS.labels(result).inc()
    observe.note(cache=result)


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
