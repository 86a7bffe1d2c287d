"""`ocicache gc`: mark and sweep the origin's blobs.

Mark: every manifest revision and tag of every repository, and what each manifest names
(config, layers, the manifests of an index). Sweep: every blob not marked whose data, and
every layer link to it, is older than the grace period, with the layer links to it.

Safe while pushes go on: a push uploads blobs before the manifest that names them, so an
unreferenced blob younger than `grace_seconds` (or linked into a repository that recently)
is kept. A storage implements the few listing and deleting calls of `GcStorage`; the
local directory (CNCF distribution layout) is `FsGcStorage`; object storage can follow.
"""
from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Protocol

from ..reference import Digest

log = logging.getLogger("ocicache.gc")


class GcError(Exception):
    """The mark phase could not be completed; nothing was deleted."""


class GcStorage(Protocol):
    def repositories(self) -> list[str]:
        """Every repository with manifests."""

    def manifests(self, repo: str) -> set[Digest]:
        """Every manifest revision and tag target of `repo`."""

    def read_manifest(self, digest: Digest) -> bytes | None:
        """The stored bytes of a manifest, None if its blob is gone."""

    def blobs(self) -> Iterable[tuple[Digest, int, float]]:
        """(digest, size, modification time) of every stored blob."""

    def layer_links(self) -> dict[Digest, list[tuple[str, float]]]:
        """digest -> [(repository, link modification time)] of every layer link."""

    def delete_blob(self, digest: Digest) -> None:
        """Remove a blob's data (only called for unreferenced blobs)."""

    def delete_layer_link(self, repo: str, digest: Digest) -> None:
        """Remove a repository's link to a blob that is being deleted."""


@dataclass
class GcReport:
    repositories: int = 0
    manifests: int = 0
    marked: set[Digest] = field(default_factory=set)
    deleted: list[tuple[Digest, int]] = field(default_factory=list)
    kept_young: list[Digest] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return sum(size for _d, size in self.deleted)


def mark(storage: GcStorage, report: GcReport) -> None:
    for repo in storage.repositories():
        report.repositories += 1
        for digest in storage.manifests(repo):
            _mark_manifest(storage, repo, digest, report)


def _mark_manifest(storage: GcStorage, repo: str, digest: Digest, report: GcReport) -> None:
    if digest in report.marked:
        return
    report.marked.add(digest)
    report.manifests += 1
    data = storage.read_manifest(digest)
    if data is None:
        log.warning("gc: manifest %s of %s is linked but its blob is missing; re-push it", digest, repo)
        return
    try:
        doc = json.loads(data)
        named = [doc["config"]] if isinstance(doc.get("config"), dict) else []
        named += list(doc.get("layers") or []) + list(doc.get("blobs") or [])
        children = [Digest.parse(m["digest"]) for m in doc.get("manifests") or []]
        report.marked.update(Digest.parse(d["digest"]) for d in named)
    except Exception as exc:  # any shape we cannot read: refuse to guess what it references
        raise GcError(f"manifest {digest} of repository {repo} cannot be read ({type(exc).__name__}: "
                      f"{exc}); nothing was deleted. Delete or re-push that manifest, then run gc again") from None
    for child in children:
        _mark_manifest(storage, repo, child, report)


def sweep(storage: GcStorage, report: GcReport, grace_seconds: float, dry_run: bool,
          now: float | None = None) -> None:
    cutoff = (time.time() if now is None else now) - grace_seconds
    links = storage.layer_links()
    for digest, size, mtime in storage.blobs():
        if digest in report.marked:
            continue
        newest = max([mtime] + [t for _repo, t in links.get(digest, [])])
        if newest > cutoff:
            report.kept_young.append(digest)
            continue
        report.deleted.append((digest, size))
        if not dry_run:
            for repo, _t in links.get(digest, []):
                storage.delete_layer_link(repo, digest)
            storage.delete_blob(digest)


def collect(storage: GcStorage, grace_seconds: float, dry_run: bool) -> GcReport:
    report = GcReport()
    mark(storage, report)
    sweep(storage, report, grace_seconds, dry_run)
    return report


class FsGcStorage:
    """The local-directory origin (`file://`), laid out as CNCF distribution lays it out."""

    def __init__(self, root: Path) -> None:
        self.base = Path(root) / "docker" / "registry" / "v2"
        if not (self.base / "blobs").is_dir():
            raise GcError(f"{root} is not an origin folder (no docker/registry/v2/blobs in it); "
                          "pass the node's --data-dir or --origin file:///path")

    def repositories(self) -> list[str]:
        top = self.base / "repositories"
        return sorted(str(p.parent.relative_to(top)) for p in top.rglob("_manifests") if p.is_dir())

    def manifests(self, repo: str) -> set[Digest]:
        root = self.base / "repositories" / repo / "_manifests"
        links = list((root / "revisions").glob("*/*/link")) + list((root / "tags").glob("*/current/link"))
        links += list((root / "tags").glob("*/index/*/*/link"))
        return {d for d in (_read_link(p) for p in links) if d is not None}

    def read_manifest(self, digest: Digest) -> bytes | None:
        try:
            return self._data(digest).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def blobs(self) -> Iterable[tuple[Digest, int, float]]:
        for data in (self.base / "blobs").glob("*/*/*/data"):
            st = data.stat()
            yield Digest(data.parent.parent.parent.name, data.parent.name), st.st_size, st.st_mtime

    def layer_links(self) -> dict[Digest, list[tuple[str, float]]]:
        top = self.base / "repositories"
        found: dict[Digest, list[tuple[str, float]]] = {}
        for link in top.rglob("_layers/*/*/link"):
            repo = str(link.parents[3].relative_to(top))
            digest = _read_link(link)
            if digest is not None:
                found.setdefault(digest, []).append((repo, link.stat().st_mtime))
        return found

    def delete_blob(self, digest: Digest) -> None:
        shutil.rmtree(self._data(digest).parent, ignore_errors=True)

    def delete_layer_link(self, repo: str, digest: Digest) -> None:
        shutil.rmtree(self.base / "repositories" / repo / "_layers" / digest.algorithm / digest.hex,
                      ignore_errors=True)

    def _data(self, digest: Digest) -> Path:
        return self.base / "blobs" / digest.algorithm / digest.hex[:2] / digest.hex / "data"


def _read_link(path: Path) -> Digest | None:
    try:
        return Digest.parse(path.read_text().strip())
    except Exception:  # unreadable or damaged link: not a reference
        return None
