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
]


def main(path: str) -> int:
    medians = {b["name"]: b["stats"]["median"] for b in json.load(open(path))["benchmarks"]}
    print("| comparison | ratio (baseline median / ours) | target |")
    print("|---|---|---|")
    for label, fast, base, target in RATIOS:
        if fast in medians and base in medians:
            ratio = medians[base] / medians[fast]
            mark = "met" if ratio >= target else "NOT met"
            print(f"| {label} | {ratio:.2f}x | >= {target}x ({mark}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
