"""Build script: only `build_ext` is customised.

The Cython sources in ext/ are compiled when Cython and a C compiler are
present. When either is missing, or the compile fails, the pure-Python twins
in the package are installed instead and the build says so; the package
imports and works (slower) without the extensions.
"""
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

CYTHON_VERSION = "3.3.1"


def _warn(why):
    sys.stderr.write(
        f"\n*** ocicache: {why}.\n"
        "*** Installing the pure-Python twins instead (slower hashing and range copy).\n"
        "*** Install gcc and the Python headers, then reinstall, to get the fast paths.\n\n"
    )


def extensions():
    """The Cython extensions, cythonized now; none (pure-Python twins) without Cython."""
    try:
        from Cython import __version__ as cy_version
        from Cython.Build import cythonize
    except ImportError:
        _warn("Cython is not installed")
        return []
    if cy_version != CYTHON_VERSION:
        _warn(f"Cython {cy_version} found, {CYTHON_VERSION} is the tested version; building anyway")
    exts = [
        Extension("ocicache.hotpaths._digest_c", ["ext/_digest_c.pyx", "ext/sha256_impl.c"],
                  include_dirs=["ext"], extra_compile_args=["-O3"]),
        Extension("ocicache.hotpaths._rangecopy_c", ["ext/_rangecopy_c.pyx"],
                  extra_compile_args=["-O3"]),
    ]
    return cythonize(exts, language_level=3, annotate=bool(os.environ.get("OCICACHE_CYTHON_ANNOTATE")),
                     compiler_directives={"boundscheck": False, "wraparound": False})


class OptionalBuildExt(build_ext):
    """Compile the extensions; a failed compile installs the pure-Python twins instead."""

    def run(self):
        try:
            super().run()
        except Exception as exc:  # no compiler at all
            _warn(f"compiling the extensions failed: {exc}")

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            _warn(f"compiling {ext.name} failed: {exc}")


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
