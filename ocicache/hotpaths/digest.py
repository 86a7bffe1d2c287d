"""Hashers with exportable state, by digest algorithm.

SHA-256 is the C extension or its pure-Python twin: OCICACHE_NO_EXTENSIONS=1 (any non-empty
value) forces the twin, and EXTENSION_BUILT says whether the extension file exists, so tests
can tell a silent fallback from a build without extensions. SHA-512 is Python over
libcrypto (`_sha512_py`; no C routine, so no twin to keep).

`new(algorithm)` and `from_state(algorithm, state)` give the hasher of a digest algorithm;
both hashers have update, digest, hexdigest, copy, export_state and update_and_write.
"""
from __future__ import annotations

import os
from typing import Union
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from ._sha512_py import Sha512

NO_EXTENSIONS = bool(os.environ.get("OCICACHE_NO_EXTENSIONS"))
EXTENSION_BUILT = any(Path(__file__).with_name("_digest_c" + suffix).exists() for suffix in EXTENSION_SUFFIXES)

if not NO_EXTENSIONS:
    try:
        from ._digest_c import IMPLEMENTATION, Sha256, cpu_features
    except ImportError:
        from ._digest_py import IMPLEMENTATION, Sha256, cpu_features
else:
    from ._digest_py import IMPLEMENTATION, Sha256, cpu_features

__all__ = ["ALGORITHMS", "EXTENSION_BUILT", "Hasher", "IMPLEMENTATION", "NO_EXTENSIONS", "Sha256", "Sha512",
           "cpu_features", "from_state", "hex_of_file", "new", "sha256_hex_of_file"]

_FILE_CHUNK = 1 << 20
_HASHERS = {"sha256": Sha256, "sha512": Sha512}
ALGORITHMS = tuple(_HASHERS)
"""The digest algorithms a hasher exists for, the canonical (sha256) first."""
Hasher = Union[Sha256, Sha512]


def _hasher_class(algorithm: str):
    try:
        return _HASHERS[algorithm]
    except KeyError:
        raise ValueError(f"no hasher for digest algorithm {algorithm!r}; have {', '.join(ALGORITHMS)}") from None


def new(algorithm: str):
    """A fresh hasher for `algorithm` ("sha256" or "sha512"); ValueError for any other."""
    return _hasher_class(algorithm)()


def from_state(algorithm: str, state):
    """The hasher for `algorithm` resumed from its `export_state()`; ValueError if it does not fit."""
    return _hasher_class(algorithm).from_state(state)


def hex_of_file(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """Return the hex digest of the file at `path` with `algorithm`, read in 1 MiB chunks."""
    hasher = new(algorithm)
    buf = bytearray(_FILE_CHUNK)
    with open(path, "rb", buffering=0) as f, memoryview(buf) as view:
        while n := f.readinto(view):
            hasher.update(view[:n])
    return hasher.hexdigest()


def sha256_hex_of_file(path: str | os.PathLike) -> str:
    """Return the hex SHA-256 of the file at `path`, read in 1 MiB chunks."""
    return hex_of_file(path, "sha256")
