"""Fixtures parametrized over the C extensions and their pure-Python twins.

The C parameter is skipped only when its extension was not built and CI is
not "true"; a built extension that fails to import, or any missing extension
in CI, fails the test instead.
"""
from __future__ import annotations

import importlib
import os

import pytest

from ocicache.hotpaths import _digest_py, _rangecopy_py, digest, rangecopy

IN_CI = os.environ.get("CI") == "true"


def import_extension(name: str, built: bool):
    """Import the C extension `name`, skipping when it was legitimately not built."""
    if not built and not IN_CI:
        pytest.skip(f"{name} was not built")
    return importlib.import_module(name)


def load_digest(kind: str, monkeypatch: pytest.MonkeyPatch):
    """Return the digest module for `kind`: "c", "python" (libcrypto core) or "python-pure"."""
    if kind == "c":
        return import_extension("ocicache.hotpaths._digest_c", digest.EXTENSION_BUILT)
    if kind == "python-pure":
        monkeypatch.setattr(_digest_py, "_Core", _digest_py._PureCore)
    return _digest_py


@pytest.fixture(params=["c", "python", "python-pure"])
def sha_impl(request, monkeypatch):
    """Each SHA-256 implementation in turn."""
    return load_digest(request.param, monkeypatch)


@pytest.fixture(
    params=[("c", "python"), ("python", "c"), ("c", "python-pure"), ("python-pure", "c")],
    ids=lambda pair: "->".join(pair),
)
def sha_pair(request, monkeypatch):
    """(exporting, importing) implementations that must understand each other's state."""
    return tuple(load_digest(kind, monkeypatch) for kind in request.param)


@pytest.fixture(params=["c", "python"])
def rc_impl(request):
    """Each range-copy implementation in turn."""
    if request.param == "c":
        return import_extension("ocicache.hotpaths._rangecopy_c", rangecopy.EXTENSION_BUILT)
    return _rangecopy_py
