"""The hot paths: C extensions (built from ext/ by setup.py) and their pure-Python twins.

    digest.py      SHA-256 and SHA-512 whose state can be saved and resumed, hashing fused with the write
                   (SHA-512: `_sha512_py`, Python over libcrypto; no C routine, so no twin)
    rangecopy.py   zero-copy copy_range and sendfile
    fileio.py      closing descriptors off the event loop
    libc.py        malloc_trim and sync_file_range through ctypes (no-ops where absent)

`digest` and `rangecopy` are selectors: the C module (`_digest_c`, `_rangecopy_c`) unless
OCICACHE_NO_EXTENSIONS=1 or it was not built, else the twin (`_digest_py`, `_rangecopy_py`)
with the same names and contracts. Tests run both and fail when a built extension did not load.
"""
