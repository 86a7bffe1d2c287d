"""Streaming writers for OCI image layouts: seeded layer tars, gzip-wrapped, hashed as they are
written (never a whole layer in memory), and content-addressed blobs.

A layer is a real tar (PAX format, fixed mtime/owner) of files with seeded random content; it is
wrapped in gzip at level 0 (stored blocks: valid gzip, no CPU spent on data that cannot shrink).
One pass writes it: payload -> tar (sha256: the diff_id) -> gzip (sha256: the blob digest) -> disk.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path

MTIME = 1704067200  # 2024-01-01T00:00:00Z, in every tar header
CHUNK = 1 << 20


def canonical(obj) -> bytes:
    """Deterministic JSON (sorted keys, no spaces): the same document always has the same digest."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


class HashingWriter:
    """A write-only file object that hashes and counts what passes through to `sink`."""

    def __init__(self, sink) -> None:
        self.sink = sink
        self.sha = hashlib.sha256()
        self.count = 0

    def write(self, data) -> int:
        self.sha.update(data)
        self.count += len(data)
        self.sink.write(data)
        return len(data)

    def tell(self) -> int:
        return self.count

    def flush(self) -> None:
        self.sink.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


class SeededReader:
    """`size` bytes of seeded random data, produced on read (what tarfile copies into a member)."""

    def __init__(self, rng: random.Random, size: int) -> None:
        self.rng = rng
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        self.left -= n
        return self.rng.randbytes(n) if n else b""


@dataclass(frozen=True)
class LayerBlob:
    digest: str       # sha256 of the gzip blob (what a registry stores)
    size: int         # bytes of the gzip blob
    diff_id: str      # sha256 of the uncompressed tar (the config's rootfs.diff_ids entry)
    raw_size: int     # bytes of the uncompressed tar


def file_sizes(payload: int) -> list[int]:
    """How a layer's payload is split into files: about one per 8 MiB, 2 to 24 of them."""
    count = max(2, min(24, payload // (8 * CHUNK)))
    each = payload // count
    return [each] * (count - 1) + [payload - each * (count - 1)]


class BlobDir:
    """The `blobs/sha256/` folder of one OCI layout."""

    def __init__(self, layout_dir: Path) -> None:
        self.dir = Path(layout_dir) / "blobs" / "sha256"
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, digest: str) -> Path:
        return self.dir / digest.split(":", 1)[1]

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Store a small document (config, manifest, index); its (digest, size)."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.path(digest).write_bytes(data)
        return digest, len(data)

    def put_layer(self, rng: random.Random, prefix: str, payload: int, note: str) -> LayerBlob:
        """Write one gzip-wrapped layer tar whose files hold `payload` seeded bytes in all."""
        tmp = self.dir / f".partial-{os.getpid()}-{prefix.replace('/', '_')}"
        with open(tmp, "wb") as out:
            outer = HashingWriter(out)
            with gzip.GzipFile(filename="", mode="wb", fileobj=outer, mtime=0, compresslevel=0) as gz:
                inner = HashingWriter(gz)
                _write_tar(inner, rng, prefix, file_sizes(payload), note)
        blob = LayerBlob(outer.digest, outer.count, inner.digest, inner.count)
        tmp.rename(self.path(blob.digest))
        return blob


def _entry(name: str, kind: bytes, size: int = 0, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode, info.mtime = kind, size, mode, MTIME
    return info


def _write_tar(sink: HashingWriter, rng: random.Random, prefix: str, sizes: list[int], note: str) -> None:
    parts = prefix.strip("/").split("/")
    with tarfile.open(fileobj=sink, mode="w", format=tarfile.PAX_FORMAT, copybufsize=CHUNK) as tar:
        for i in range(1, len(parts) + 1):
            tar.addfile(_entry("/".join(parts[:i]), tarfile.DIRTYPE, mode=0o755))
        for i, size in enumerate(sizes):
            tar.addfile(_entry(f"{'/'.join(parts)}/file{i:04d}.bin", tarfile.REGTYPE, size), SeededReader(rng, size))
        text = f"{note}\n".encode()
        readme = _entry(f"{'/'.join(parts)}/README.txt", tarfile.REGTYPE, len(text))
        tar.addfile(readme, io.BytesIO(text))

