"""How catalog and tag pages cost as the directory origin grows (issue 23).

    python -m bench.scale_listings --sizes 10,1000,10000,100000 --reps 3 --out docs/performance/scale/listings

For each size N, a directory origin holding N repositories and one repository of N tags is
written directly in CNCF distribution's layout (after checking once that the direct writer lays
out exactly what FilesystemOrigin.put_manifest does). A node (1 worker) is started on it; its
first listing rebuilds the listing index from the layout (`rebuild`, once per directory). Then,
over HTTP, the median of 30 requests for: the first `_catalog?n=100` page, the page after the
middle name, and the same two pages of `tags/list?n=100`. Each origin is written once and
measured --reps times (sizes in rotated order), its listing index removed before each so every
repetition times the rebuild too. Prints a table (median, min-max of the repetitions); with
--out, writes results.json, results.csv (bench/scale_report.py) and one PNG curve per metric.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import statistics
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

from bench import scale_report
from ocicache.origin import layout
from ocicache.origin.fs import FilesystemOrigin
from ocicache.reference import Digest
from tests.nodeproc import NodeProcess

MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": "sha256:" + "0" * 64, "size": 2}, "layers": []}).encode()
DIGEST = Digest.from_hex(hashlib.sha256(MANIFEST).hexdigest())
TAGGED = "scale/tagged"
REPEAT = 30


def repo_name(i: int) -> str:
    return f"scale/r{i:06d}"


def tag_name(i: int) -> str:
    return f"t{i:06d}"


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def write_origin(root: Path, repos: int, tags: int) -> None:
    """`repos` repositories holding the manifest untagged, and TAGGED with `tags` tags of it."""
    base, link = root / layout.ROOT, str(DIGEST).encode()
    _write(base / layout.blob_data(DIGEST), MANIFEST)
    (base / layout.BLOBS).mkdir(parents=True, exist_ok=True)

    def repo(i: int) -> None:
        _write(base / layout.revision_link(repo_name(i), DIGEST), link)

    def tag(i: int) -> None:
        _write(base / layout.tag_index_link(TAGGED, tag_name(i), DIGEST), link)
        _write(base / layout.tag_current_link(TAGGED, tag_name(i)), link)
    _write(base / layout.revision_link(TAGGED, DIGEST), link)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(repo, range(repos), chunksize=1000))
        list(pool.map(tag, range(tags), chunksize=1000))


def layout_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in (root / layout.ROOT).rglob("*") if p.is_file())


def check_format(work: Path) -> None:
    """The direct writer lays out what the origin's own write path does."""
    direct, api = work / "direct", work / "api"
    write_origin(direct, 3, 3)
    origin = FilesystemOrigin(api)

    async def through_origin() -> None:
        for i in range(3):
            await origin.put_manifest(repo_name(i), DIGEST, MANIFEST, None)
        for i in range(3):
            await origin.put_manifest(TAGGED, DIGEST, MANIFEST, tag_name(i))
        await origin.close()
    asyncio.run(through_origin())
    assert layout_files(direct) == layout_files(api), "the direct writer's layout differs from the origin's"
    shutil.rmtree(direct)
    shutil.rmtree(api)


def get_ms(url: str) -> tuple[float, dict]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as resp:
        body = json.loads(resp.read())
    return (time.perf_counter() - started) * 1000, body


def median_ms(url: str, expect: int) -> float:
    times = []
    for _ in range(REPEAT):
        ms, body = get_ms(url)
        names = body.get("repositories", body.get("tags"))
        assert len(names) == expect, (url, len(names))
        times.append(ms)
    return statistics.median(times)


ROWS = {"catalog_first": "`_catalog?n=100`, first page", "catalog_middle": "`_catalog?n=100`, the page after the middle name",
        "tags_first": "`tags/list?n=100`, first page", "tags_middle": "`tags/list?n=100`, the page after the middle tag"}
REBUILD = "rebuild of the listing index from the layout (once, when it is missing)"


def measure(data: Path, size: int, doc: dict) -> None:
    """One repetition on the origin of `size` names at data/origin: its listing index removed
    (so the first listing rebuilds it), a node started, every page timed, the node stopped."""
    index = data / "origin" / layout.LISTINGS
    for leftover in index.parent.glob(index.name + "*"):  # the index and its -wal, -shm
        leftover.unlink()
    node = NodeProcess(data)
    node.start(timeout=60)
    try:
        rebuild, _ = get_ms(f"{node.url}/v2/_catalog?n=1")
        middle_repo, middle_tag = quote(repo_name(size // 2), safe=""), tag_name(size // 2)
        rest = min(100, size - size // 2 - 1)
        pages = {
            "catalog_first": median_ms(f"{node.url}/v2/_catalog?n=100", min(100, size + 1)),
            "catalog_middle": median_ms(f"{node.url}/v2/_catalog?n=100&last={middle_repo}",
                                        min(100, size - size // 2)),  # TAGGED sorts after them all
            "tags_first": median_ms(f"{node.url}/v2/{TAGGED}/tags/list?n=100", min(100, size)),
            "tags_middle": median_ms(f"{node.url}/v2/{TAGGED}/tags/list?n=100&last={middle_tag}", rest),
        }
    finally:
        node.stop()
    for key, ms in pages.items():
        scale_report.add(doc, ROWS[key], str(size), "ms", ms)
    scale_report.add(doc, REBUILD, str(size), "s", rebuild / 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000,10000,100000")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each size (each origin is written once)")
    parser.add_argument("--out", type=Path, help="folder for results.json, results.csv and the PNGs")
    parser.add_argument("--notes", default="")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    doc = {"machine": scale_report.machine(args.notes), "results": {}}
    doc["machine"].update({"repetitions": args.reps, "requests per page figure": REPEAT})
    with tempfile.TemporaryDirectory(prefix="ocicache-scale-listings-") as tmp:
        check_format(Path(tmp))
        for size in sizes:
            started = time.monotonic()
            write_origin(Path(tmp) / f"node-{size}" / "origin", size, size)
            doc["machine"][f"origin of {size} names written in s"] = round(time.monotonic() - started, 1)
        for rep in range(args.reps):
            for size in sizes[rep % len(sizes):] + sizes[:rep % len(sizes)]:  # order rotated
                measure(Path(tmp) / f"node-{size}", size, doc)
                print(f"rep {rep + 1}: {size:,} names measured (load {os.getloadavg()[0]:.2f})", flush=True)
        scale_report.finish(doc, args.out)  # before the slow removal of the large origins
    print(scale_report.by_size(doc, "names"))
    if args.out:
        for path in scale_report.curves(doc, args.out, "listings", "repositories, and tags of one repository"):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
