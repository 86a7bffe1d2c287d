"""Print the ratios the targets are stated in, from one pytest-benchmark JSON run.

Usage: python bench/ratios.py bench/results/micro.json
"""
from __future__ import annotations

import json
import sys

# (label, fast benchmark, baseline benchmark, target ratio of baseline/fast medians)
RATIOS = [
    ("C SHA-256 vs hashlib, 64 KiB", "test_sha256[c-64KiB]", "test_sha256[hashlib-64KiB]", 0.95),
    ("C SHA-256 vs hashlib, 1 MiB", "test_sha256[c-1MiB]", "test_sha256[hashlib-1MiB]", 0.95),
    ("fused hash+write vs update then pwrite, 1 MiB", "test_update_and_write_fused[c]",
     "test_update_then_pwrite[c]", 1.2),
    ("blob GET 256 MiB: sendfile vs streamed", "test_blob_get_256mib[sendfile]",
     "test_blob_get_256mib[streamed]", 2.0),
    ("edge cold miss 256 MiB vs direct from origin (total)", "test_blob_256mib[edge-cold]",
     "test_blob_256mib[origin-direct]", 1 / 1.15),
    ("edge warm hit 256 MiB vs direct from origin", "test_blob_256mib[edge-warm]",
     "test_blob_256mib[origin-direct]", 0.95),
    ("C range copy vs Python twin, 1 MiB", "test_range_copy_1mib[c]", "test_range_copy_1mib[python]", 0.95),
    ("C range copy vs shutil.copyfileobj, 1 MiB", "test_range_copy_1mib[c]",
     "test_range_copy_1mib[stdlib-copyfileobj]", 1.0),
    ("manifest cache hit vs origin read + parse, by digest", "test_manifest_lookup[cache-hit-by-digest]",
     "test_manifest_lookup[origin-read-and-parse]", 10.0),
    ("manifest cache hit vs origin read + parse, by tag", "test_manifest_lookup[cache-hit-by-tag]",
     "test_manifest_lookup[origin-tag-read-and-parse]", 10.0),
    ("routing a blob GET: ocicache vs aiohttp's router", "test_routing[ocicache-blob]",
     "test_routing[aiohttp-urldispatcher-blob]", 1.0),
    ("routing a manifest GET: ocicache vs aiohttp's router", "test_routing[ocicache-manifest]",
     "test_routing[aiohttp-urldispatcher-manifest]", 1.0),
]


def main(path: str) -> int:
    medians = {b["name"]: b["stats"]["median"] for b in json.load(open(path))["benchmarks"]}
    print("| comparison | ratio (baseline median / ours) | target |")
    print("|---|---|---|")
    for label, fast, base, target in RATIOS:
        if fast in medians and base in medians:
            ratio = medians[base] / medians[fast]
            mark = "met" if ratio >= target else "NOT met"
            print(f"| {label} | {ratio:.2f}x | >= {target:.2f}x ({mark}) |")
    ttfb = {b["name"]: b["extra_info"].get("ttfb_median_ms") for b in json.load(open(path))["benchmarks"]
            if "ttfb_median_ms" in b.get("extra_info", {})}
    if ttfb:
        print("\n| edge, 256 MiB | time to first byte (median) |\n|---|---|")
        for name, ms in ttfb.items():
            print(f"| {name} | {ms} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
