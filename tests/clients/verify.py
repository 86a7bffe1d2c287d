"""Checks on what a client pulled: every blob rehashed (streamed from disk), digests compared."""
from __future__ import annotations

import hashlib
from pathlib import Path

from .images import REF_NAME, Layout, read_index


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return "sha256:" + hashlib.file_digest(f, "sha256").hexdigest()


def rehash_blobs(blob_dir: Path) -> dict[str, str]:
    """{name: actual digest} of every blob in a content-addressed folder (`<hex>` files) whose
    content does not hash to its name; empty when all of them are sound."""
    bad = {}
    for path in sorted(Path(blob_dir).iterdir()):
        if path.is_file() and not path.name.startswith("."):
            actual = file_sha256(path)
            if actual != f"sha256:{path.name}":
                bad[path.name] = actual
    return bad


def tagged_digest(layout_dir: Path, tag: str = "latest") -> str:
    for entry in read_index(layout_dir)["manifests"]:
        if (entry.get("annotations") or {}).get(REF_NAME) == tag:
            return entry["digest"]
    raise AssertionError(f"the pulled layout {layout_dir} has no image tagged {tag!r} in its index.json")


def check_pulled_layout(pulled: Path, source: Layout, tag: str = "latest", expect: set[str] | None = None) -> None:
    """A layout a client wrote (skopeo copy ... oci:<pulled>:<tag>) holds the source image
    byte for byte: same top-level digest, every blob sound, the same set of blobs as `expect`
    (default: every manifest, config and layer of the source)."""
    got = tagged_digest(pulled, tag)
    assert got == source.manifest_digest, (
        f"{source.shape}: pulled manifest digest {got}, expected {source.manifest_digest}")
    bad = rehash_blobs(Path(pulled) / "blobs" / "sha256")
    assert not bad, f"{source.shape}: blobs whose content does not match their digest: {bad}"
    have = {"sha256:" + p.name for p in (Path(pulled) / "blobs" / "sha256").iterdir()}
    want = expect if expect is not None else source.manifest_digests | source.blob_digests
    assert have == want, (f"{source.shape}: blob set differs from the source; missing {sorted(want - have)}, "
                          f"unexpected {sorted(have - want)}")
