"""Zero-copy range transfers: the C extension, or its pure-Python twin.

OCICACHE_NO_EXTENSIONS=1 (any non-empty value) forces the twin. EXTENSION_BUILT
says whether the extension file exists, so tests can tell a silent fallback
from a build without extensions.
"""
from __future__ import annotations

import os
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

NO_EXTENSIONS = bool(os.environ.get("OCICACHE_NO_EXTENSIONS"))
EXTENSION_BUILT = any(Path(__file__).with_name("_rangecopy_c" + suffix).exists() for suffix in EXTENSION_SUFFIXES)

if not NO_EXTENSIONS:
    try:
        from ._rangecopy_c import IMPLEMENTATION, copy_range, send_head_and_file, sendfile
    except ImportError:
        from ._rangecopy_py import IMPLEMENTATION, copy_range, send_head_and_file, sendfile
else:
    from ._rangecopy_py import IMPLEMENTATION, copy_range, send_head_and_file, sendfile

__all__ = ["EXTENSION_BUILT", "IMPLEMENTATION", "NO_EXTENSIONS", "copy_range", "send_head_and_file", "sendfile"]
