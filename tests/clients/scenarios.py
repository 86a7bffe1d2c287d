"""Building blocks of the client scenarios: images pushed once to an origin node, pulls
checked blob by blob, what an edge fetched from its origin, pushes through an edge in front of
an origin (`EdgeInFront`), and containerd's mirror requests."""
from __future__ import annotations

import random
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ..nodeproc import NodeProcess
from .containerd import Containerd
from .images import KiB, Layout, Shape, build
from .registry import EdgeCounters, FillCounter
from .skopeo import Skopeo
from .verify import check_pulled_layout, file_sha256, rehash_blobs, tagged_digest

TAG = "v1"


class Seeded:
    """The generated layouts, each pushed to the origin node with skopeo the first time a test
    asks for it (`push` tests call it first and check what it did; pull tests just need it)."""

    def __init__(self, origin: NodeProcess, layouts, prefix: str = "clients") -> None:
        self.origin, self.layouts, self.prefix = origin, layouts, prefix
        self.skopeo = Skopeo()
        self.pushed: dict[str, str] = {}

    def layout(self, shape: str) -> Layout:
        return self.layouts(shape)

    def push(self, shape: str) -> str:
        """The repository (on the origin) holding `shape` tagged v1; pushed on first use."""
        if shape not in self.pushed:
            layout = self.layout(shape)
            repo = f"{self.prefix}/{shape}"
            self.skopeo.copy(layout.ref, f"docker://{self.origin.hostport}/{repo}:{TAG}",
                             all_images=len(layout.images) > 1)
            self.pushed[shape] = repo
        return self.pushed[shape]


class EdgeInFront:
    """A push target (issue 15): an edge node whose origin is another registry (an ocicache
    node, or CNCF distribution). Clients push to `ref(repo)` on the edge; `check(repo, digest)`
    then pulls the image with skopeo from the origin directly (the digest the client pushed,
    every blob rehashed) and right after from the edge, which must serve it all from its store
    (no fill, no miss, a hit per blob: the edge learnt what was pushed through it); with
    `other_edge` (a second edge in front of the same origin), also from that one (same digests)."""

    def __init__(self, origin, edge: NodeProcess, work_dir: Path, other_edge: NodeProcess | None = None) -> None:
        self.origin, self.edge, self.work_dir, self.other_edge = origin, edge, Path(work_dir), other_edge
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.skopeo = Skopeo()

    def ref(self, repo: str) -> str:
        return f"{self.edge.hostport}/{repo}:{TAG}"

    def check(self, repo: str, digest: str) -> set[str]:
        """The blobs (config and layers) of repo:v1, as the origin serves them."""
        at_origin = self._pull(self.origin.hostport, repo, digest, "origin")
        counters = EdgeCounters(self.edge)
        at_edge = self._pull(self.edge.hostport, repo, digest, "edge")
        assert at_edge == at_origin, f"{repo}: the edge served blobs {sorted(at_edge)}, the origin {sorted(at_origin)}"
        seen = counters.delta()
        assert (seen["fills"], seen["fetched"], seen["misses"]) == (0, 0, 0), (
            f"{repo}: the pull from the edge right after the push through it was not a cache hit: {seen}")
        blobs = at_origin - {digest}
        assert seen["hits"] >= len(blobs), f"{repo}: {len(blobs)} blobs pulled, {seen['hits']} store hits: {seen}"
        if self.other_edge is not None:
            at_other = self._pull(self.other_edge.hostport, repo, digest, "other-edge")
            assert at_other == at_origin, f"{repo}: another edge served {sorted(at_other)}, the origin {sorted(at_origin)}"
        return blobs

    def _pull(self, hostport: str, repo: str, digest: str, name: str) -> set[str]:
        """Copy host/repo:v1 into an OCI layout with skopeo; check its digest and rehash every blob."""
        dest = self.work_dir / f"{repo.replace('/', '-')}-{name}"
        try:
            self.skopeo.copy(f"docker://{hostport}/{repo}:{TAG}", f"oci:{dest}:latest")
            got = tagged_digest(dest)
            assert got == digest, f"{repo} pulled from the {name} ({hostport}) is {got}, the client pushed {digest}"
            bad = rehash_blobs(dest / "blobs" / "sha256")
            assert not bad, f"{repo} pulled from the {name}: blobs that do not match their digest: {bad}"
            return {"sha256:" + p.name for p in (dest / "blobs" / "sha256").iterdir()}
        finally:
            shutil.rmtree(dest, ignore_errors=True)


def skopeo_pull_back(skopeo: Skopeo, hostport: str, repo: str, layout: Layout, dest: Path) -> None:
    """Copy host/repo:v1 (every platform) into an OCI layout at `dest`, check it against the
    source layout (digest, every blob rehashed, the blob set), then delete it."""
    try:
        skopeo.copy(f"docker://{hostport}/{repo}:{TAG}", f"oci:{dest}:latest", all_images=len(layout.images) > 1)
        check_pulled_layout(dest, layout)
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def in_edge_cache(edge: NodeProcess, digest: str) -> bool:
    return (edge.data_dir / "cache" / "blobs" / "sha256" / digest[7:9] / digest[7:]).exists()


def cold_pull_through_edge(edge: NodeProcess, layout: Layout, pull) -> None:
    """Run `pull()` through the edge and check the edge fetched each blob it did not hold yet
    exactly once from its origin (its /metrics: fills ended ok, origin bytes fetched)."""
    missing = {d for d in layout.blob_digests if not in_edge_cache(edge, d)}
    sizes = {d: layout.blob_path(d).stat().st_size for d in missing}
    counter = FillCounter(edge.url)
    pull()
    fills, fetched = counter.delta()
    assert (fills, fetched) == (len(missing), sum(sizes.values())), (
        f"{layout.shape}: the edge made {fills} origin fetches ({fetched} bytes) for {len(missing)} blobs it "
        f"did not hold ({sum(sizes.values())} bytes); expected one fetch per blob")
    assert all(in_edge_cache(edge, d) for d in layout.blob_digests), f"{layout.shape}: blobs missing in the edge cache"


def check_ctr_content(daemon: Containerd, namespace: str, digests: set[str]) -> None:
    """Every digest is in containerd's content store (namespace `namespace`) and its file
    hashes to its name."""
    have = daemon.content_digests(namespace)
    assert digests <= have, f"containerd lacks {sorted(digests - have)} after the pull"
    bad = {d: got for d in digests if (got := file_sha256(daemon.content_dir / d[7:])) != d}
    assert not bad, f"containerd stored blobs that do not hash to their digest: {bad}"


def unique_image(out_dir: Path) -> Layout:
    """A tiny one-layer image no other run has (a random seed), so a client that keeps content
    between pulls has to GET its blobs for real."""
    return build(Shape("mirror", (48 * KiB,)), out_dir, seed=random.randrange(1 << 62))


def check_mirror_requests(requests: list[tuple[str, str, int]], repo: str) -> None:
    """containerd's hosts.toml mirror requests: every /v2/ one carried ?ns=docker.io, and the
    blobs were really fetched (at least the config and the layer)."""
    v2 = [(method, path) for method, path, _ in requests if path.startswith("/v2/")]
    assert v2, "containerd sent no /v2/ request to the mirror (is --hosts-dir honoured?)"
    without = [f"{m} {p}" for m, p in v2 if parse_qs(urlsplit(p).query).get("ns") != ["docker.io"]]
    assert not without, f"mirror requests without ns=docker.io: {without}"
    blob_gets = [p for m, p in v2 if m == "GET" and p.startswith(f"/v2/{repo}/blobs/sha256:")]
    assert len(blob_gets) >= 2, f"expected the config and layer GETs with ns=docker.io, saw {v2}"
