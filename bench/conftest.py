"""Benchmark fixtures, independent of the app: the hashers under comparison."""
from __future__ import annotations

import hashlib
import importlib

import pytest

from ocicache.hotpaths import _digest_py


def _hasher_factory(kind: str):
    if kind == "c":
        try:
            return importlib.import_module("ocicache.hotpaths._digest_c").Sha256
        except ImportError:
            pytest.skip("ocicache.hotpaths._digest_c was not built")
    return {"python": _digest_py.Sha256, "hashlib": hashlib.sha256}[kind]


@pytest.fixture(params=["c", "hashlib", "python"])
def new_hasher(request):
    """A SHA-256 constructor: the C extension, stdlib hashlib, or the Python twin."""
    return _hasher_factory(request.param)


@pytest.fixture(params=["c", "python"])
def new_fused_hasher(request):
    """A constructor of the ocicache twins, which have update_and_write."""
    return _hasher_factory(request.param)
