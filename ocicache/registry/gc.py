"""`ocicache gc`: mark and sweep the origin's blobs.

Mark: every manifest revision and tag of every repository, and what each manifest names
(config, layers, the manifests of an index: the one walker, oci/walk.py). Sweep: every blob not marked whose data, and
every layer link to it, is older than the grace period, with the layer links to it.

Safe while pushes go on: a push uploads blobs before the manifest that names them, so an
unreferenced blob younger than `grace_seconds` (or linked into a repository that recently)
is kept. A storage implements the few listing and deleting calls of `GcStorage`; the
local directory (CNCF distribution layout) is `FsGcStorage`; object storage can follow.
"""
from __future__ import annotations

import asyncio
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Protocol

from ..errors import OCIError
from ..oci import walk
from ..origin import layout
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
    walked: set[Digest] = field(default_factory=set)  # manifests read (each once, however many name it)
    deleted: list[tuple[Digest, int]] = field(default_factory=list)
    kept_young: list[Digest] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return sum(size for _d, size in self.deleted)


async def mark(storage: GcStorage, report: GcReport) -> None:
    """Every manifest of every repository, and all it names (oci/walk.py)."""
    for repo in storage.repositories():
        report.repositories += 1
        for digest in sorted(storage.manifests(repo)):
            await _mark_manifest(storage, repo, digest, report)


async def _mark_manifest(storage: GcStorage, repo: str, digest: Digest, report: GcReport) -> None:
    async def read(reference: str) -> bytes | None:
        return storage.read_manifest(Digest.parse(reference))

    try:
        found = await walk.walk(read, str(digest), seen=report.walked)
    except OCIError as exc:  # any manifest we cannot read: refuse to guess what it references
        raise GcError(f"{exc.message} (in repository {repo}): it cannot be read; nothing was deleted. "
                      "Delete or re-push that manifest, then run gc again") from None
    for missing in found.missing:
        log.warning("gc: manifest %s of %s is linked but its blob is missing; re-push it", missing, repo)
    report.manifests += len(found.manifests) + len(found.missing)
    report.marked.update(found.manifests, found.references, (Digest.parse(m) for m in found.missing))


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
    asyncio.run(mark(storage, report))
    sweep(storage, report, grace_seconds, dry_run)
    return report


class FsGcStorage:
    """The local-directory origin (`file://`), in CNCF distribution's layout (origin/layout.py)."""

    def __init__(self, root: Path) -> None:
        self.base = Path(root) / layout.ROOT
        if not (self.base / layout.BLOBS).is_dir():
            raise GcError(f"{root} is not an origin folder (no {layout.ROOT}/{layout.BLOBS} in it); "
                          "pass the node's --data-dir or --origin file:///path")

    def repositories(self) -> list[str]:
        top = self.base / layout.REPOSITORIES
        return sorted(str(p.parent.relative_to(top)) for p in top.rglob(layout.MANIFESTS) if p.is_dir())

    def manifests(self, repo: str) -> set[Digest]:
        root = self.base / layout.manifests_dir(repo)
        links = [p for pattern in (layout.REVISION_LINKS, layout.TAG_CURRENT_LINKS, layout.TAG_INDEX_LINKS)
                 for p in root.glob(pattern)]
        return {d for d in (_read_link(p) for p in links) if d is not None}

    def read_manifest(self, digest: Digest) -> bytes | None:
        try:
            return (self.base / layout.blob_data(digest)).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def blobs(self) -> Iterable[tuple[Digest, int, float]]:
        for data in (self.base / layout.BLOBS).glob(layout.BLOB_DATA_FILES):
            st = data.stat()
            yield layout.blob_digest(data.parts), st.st_size, st.st_mtime

    def layer_links(self) -> dict[Digest, list[tuple[str, float]]]:
        top = self.base / layout.REPOSITORIES
        found: dict[Digest, list[tuple[str, float]]] = {}
        for link in top.rglob(layout.LAYER_LINKS):
            repo = str(link.parents[3].relative_to(top))
            digest = _read_link(link)
            if digest is not None:
                found.setdefault(digest, []).append((repo, link.stat().st_mtime))
        return found

    def delete_blob(self, digest: Digest) -> None:
        shutil.rmtree((self.base / layout.blob_data(digest)).parent, ignore_errors=True)

    def delete_layer_link(self, repo: str, digest: Digest) -> None:
        shutil.rmtree(self.base / layout.layers_dir(repo, digest), ignore_errors=True)


def _read_link(path: Path) -> Digest | None:
    try:
        return layout.parse_link(path.read_bytes())
    except OSError:  # unreadable link: not a reference
        return None
