"""How catalog and tag pages cost as the directory origin grows (issue 23).

    python -m bench.scale_listings --sizes 10,1000,10000,100000 --out bench/results/scale_listings.json

For each size N, a directory origin holding N repositories and one repository of N tags is
written directly in CNCF distribution's layout (after checking once that the direct writer lays
out exactly what FilesystemOrigin.put_manifest does). A node (1 worker) is started on it; its
first listing rebuilds the listing index from the layout (`rebuild`, once per directory). Then,
over HTTP, the median of repeated requests for: the first `_catalog?n=100` page, the page after
the middle name, and the same two pages of `tags/list?n=100`. Prints a table; writes the raw
figures as JSON.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import shutil
import statistics
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

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


def measure(work: Path, size: int) -> dict:
    data = work / f"node-{size}"
    started = time.monotonic()
    write_origin(data / "origin", size, size)
    written = time.monotonic() - started
    node = NodeProcess(data)
    node.start(timeout=60)
    try:
        rebuild, _ = get_ms(f"{node.url}/v2/_catalog?n=1")
        middle_repo, middle_tag = quote(repo_name(size // 2), safe=""), tag_name(size // 2)
        rest = min(100, size - size // 2 - 1)
        return {
            "size": size, "write_s": round(written, 2), "rebuild_ms": round(rebuild, 1),
            "catalog_first_ms": median_ms(f"{node.url}/v2/_catalog?n=100", min(100, size + 1)),
            "catalog_middle_ms": median_ms(f"{node.url}/v2/_catalog?n=100&last={middle_repo}",
                                           min(100, size - size // 2)),  # TAGGED sorts after them all
            "tags_first_ms": median_ms(f"{node.url}/v2/{TAGGED}/tags/list?n=100", min(100, size)),
            "tags_middle_ms": median_ms(f"{node.url}/v2/{TAGGED}/tags/list?n=100&last={middle_tag}", rest),
        }
    finally:
        node.stop()


def table(rows: list[dict]) -> str:
    keys = ["size", "write_s", "rebuild_ms", "catalog_first_ms", "catalog_middle_ms", "tags_first_ms",
            "tags_middle_ms"]
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        lines.append("| " + " | ".join(f"{row[k]:.2f}" if isinstance(row[k], float) else str(row[k])
                                       for k in keys) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,1000,10000,100000")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ocicache-scale-listings-") as tmp:
        check_format(Path(tmp))
        for size in (int(s) for s in args.sizes.split(",")):
            rows.append(measure(Path(tmp), size))
            print(json.dumps(rows[-1]), flush=True)
            if args.out:  # before the slow removal of a large origin
                args.out.write_text(json.dumps({"median_of": REPEAT, "rows": rows}, indent=2) + "\n")
            shutil.rmtree(Path(tmp) / f"node-{size}", ignore_errors=True)
        print(table(rows))


if __name__ == "__main__":
    main()
