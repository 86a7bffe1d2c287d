"""Plain HTTP against a registry for the client tests: a node's /metrics, manifests by digest,
and pushing layout documents the clients here cannot push (OCI 1.1 referrers)."""
from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import quote

from prometheus_client.parser import text_string_to_metric_families

from ..ocisync import request
from .blobwriter import CHUNK

ACCEPT = ", ".join(["application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json"])


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a node's /metrics: {(name, sorted label items): value}."""
    status, _, body = request(url, "GET", "/metrics")
    assert status == 200, f"GET {url}/metrics answered {status}: {body[:300]!r}"
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def metric(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def settled(url: str, timeout: float = 15.0) -> dict:
    """A scrape taken once no fill is in flight (a fill ends just after its last byte went out)."""
    deadline = time.monotonic() + timeout
    while metric(samples := scrape(url), "ocicache_fills_in_flight") > 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    return samples


class EdgeCounters:
    """An edge's store lookups and origin fetches between two points: fills that ended ok, bytes
    fetched, misses, hits (`delta()`; each scrape taken once no fill is in flight)."""

    NAMES = {"fills": ("ocicache_fill_duration_seconds_count", {"outcome": "ok"}),
             "fetched": ("ocicache_origin_fetched_bytes_total", {}),
             "misses": ("ocicache_cache_lookups_total", {"result": "miss"}),
             "hits": ("ocicache_cache_lookups_total", {"result": "hit"})}

    def __init__(self, edge) -> None:
        self.edge = edge
        self.before = self.now()

    def now(self) -> dict[str, int]:
        samples = settled(self.edge.url)     # a fill ends just after its last byte went out
        return {key: int(metric(samples, name, **labels)) for key, (name, labels) in self.NAMES.items()}

    def delta(self) -> dict[str, int]:
        after = self.now()
        return {key: after[key] - self.before[key] for key in after}


class FillCounter:
    """Origin fetches an edge made between two scrapes: fills that ended ok, and bytes fetched."""

    def __init__(self, edge_url: str) -> None:
        self.url = edge_url
        self.before = settled(edge_url)

    def delta(self) -> tuple[int, int]:
        after = settled(self.url)
        fills = [metric(s, "ocicache_fill_duration_seconds_count", outcome="ok") for s in (self.before, after)]
        fetched = [metric(s, "ocicache_origin_fetched_bytes_total") for s in (self.before, after)]
        return int(fills[1] - fills[0]), int(fetched[1] - fetched[0])


def _file_chunks(path: Path):
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def push_blob_file(url: str, repo: str, path: Path, digest: str) -> None:
    """Monolithic POST of one blob, streamed from disk."""
    status, _, body = request(url, "POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", _file_chunks(path))
    assert status == 201, f"pushing blob {digest} to {url}/v2/{repo} answered {status}: {body[:300]!r}"


def push_manifest_file(url: str, repo: str, ref: str, path: Path) -> dict:
    """PUT a manifest document from a layout; the response headers (OCI-Subject, Location...)."""
    data = path.read_bytes()
    media_type = json.loads(data)["mediaType"]
    status, headers, body = request(url, "PUT", f"/v2/{repo}/manifests/{ref}", data, {"Content-Type": media_type})
    assert status == 201, f"PUT {url}/v2/{repo}/manifests/{ref} answered {status}: {body[:300]!r}"
    return headers


def referrers(url: str, repo: str, digest: str, artifact_type: str | None = None) -> dict:
    query = f"?artifactType={quote(artifact_type, safe='')}" if artifact_type else ""   # '+' must be %2B
    status, _, body = request(url, "GET", f"/v2/{repo}/referrers/{digest}{query}")
    assert status == 200, f"GET {url}/v2/{repo}/referrers/{digest} answered {status}: {body[:300]!r}"
    return json.loads(body)


def manifest(url: str, repo: str, ref: str) -> tuple[int, dict, bytes]:
    return request(url, "GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": ACCEPT})
