"""SHA-256 with exportable state: the C extension, or its pure-Python twin.

OCICACHE_NO_EXTENSIONS=1 (any non-empty value) forces the twin. EXTENSION_BUILT
says whether the extension file exists, so tests can tell a silent fallback
from a build without extensions.
"""
from __future__ import annotations

import os
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

NO_EXTENSIONS = bool(os.environ.get("OCICACHE_NO_EXTENSIONS"))
EXTENSION_BUILT = any(Path(__file__).with_name("_digest_c" + suffix).exists() for suffix in EXTENSION_SUFFIXES)

if not NO_EXTENSIONS:
    try:
        from ._digest_c import IMPLEMENTATION, Sha256, cpu_features
    except ImportError:
        from ._digest_py import IMPLEMENTATION, Sha256, cpu_features
else:
    from ._digest_py import IMPLEMENTATION, Sha256, cpu_features

__all__ = ["EXTENSION_BUILT", "IMPLEMENTATION", "NO_EXTENSIONS", "Sha256", "cpu_features", "sha256_hex_of_file"]

_FILE_CHUNK = 1 << 20


def sha256_hex_of_file(path: str | os.PathLike) -> str:
    """Return the hex SHA-256 of the file at `path`, read in 1 MiB chunks."""
    hasher = Sha256()
    buf = bytearray(_FILE_CHUNK)
    with open(path, "rb", buffering=0) as f, memoryview(buf) as view:
        while n := f.readinto(view):
            hasher.update(view[:n])
    return hasher.hexdigest()
