"""SHA-512 with exportable state, in Python (there is no C twin: libcrypto does the work).

Same names and contracts as `Sha256` of `_digest_py`/`_digest_c` (update, digest, hexdigest,
copy, export_state, from_state, update_and_write), so an upload session or a fill holds
either. Hashing runs in libcrypto's SHA512_Init/Update/Final through ctypes (the GIL is
dropped during each call): SHA512_CTX is a plain struct whose fields can be read and
written, which hashlib's objects do not allow. Without libcrypto a pure-Python compression
function is used: correct, but about a thousand times slower.

A C routine would not pay here: libcrypto already runs its assembly SHA-512 on large
buffers, and ctypes costs a microsecond per call on 1 MiB chunks.
"""
from __future__ import annotations

import ctypes
import math
import os
import struct

from . import _digest_py

STATE_MAGIC = b"ocsha512"
_STATE = struct.Struct(">8s8QQB128s")  # magic, h[0..7], bytes hashed, n buffered, buffer
# (bytes hashed are counted in 64 bits here; SHA-512 itself allows 2**125)
_M64 = (1 << 64) - 1


def _isqrt_frac(p: int) -> int:
    """The first 64 bits of the fractional part of sqrt(p)."""
    return math.isqrt(p << 128) & _M64


def _icbrt_frac(p: int) -> int:
    """The first 64 bits of the fractional part of the cube root of p."""
    n = p << 192
    x = 1 << ((n.bit_length() + 2) // 3)  # at least cbrt(n): Newton's steps descend to the floor
    while True:
        y = (2 * x + n // (x * x)) // 3
        if y >= x:
            return x & _M64
        x = y


def _primes(count: int) -> list[int]:
    found: list[int] = []
    candidate = 2
    while len(found) < count:
        if all(candidate % p for p in found if p * p <= candidate):
            found.append(candidate)
        candidate += 1
    return found


# FIPS 180-4 sections 5.3.5 and 4.2.3, computed rather than typed in (tests check them
# against the published values and hashlib).
_H0 = tuple(_isqrt_frac(p) for p in _primes(8))
_K = tuple(_icbrt_frac(p) for p in _primes(80))


class Sha512:
    """An incremental SHA-512 hasher whose state can be exported and resumed.

    Behaves like hashlib.sha512() for update/digest/hexdigest/copy. One hasher must not be
    used by two threads at once: there is no lock, and the GIL is released while hashing.
    """

    name = "sha512"
    digest_size = 64
    block_size = 128

    __slots__ = ("_core",)

    def __init__(self) -> None:
        self._core = _Core()

    def update(self, data) -> None:
        """Hash the bytes of `data` (any C-contiguous buffer)."""
        self._core.update(data)

    def digest(self) -> bytes:
        """Return the 64-byte digest of everything hashed so far; the hasher can go on."""
        return self._core.digest()

    def hexdigest(self) -> str:
        """Return `digest()` as 128 lowercase hex characters."""
        return self.digest().hex()

    def copy(self) -> Sha512:
        """Return an independent hasher with the same state."""
        other = Sha512.__new__(Sha512)
        other._core = self._core.copy()
        return other

    def export_state(self) -> bytes:
        """Return the state as 209 bytes that `from_state` accepts.

        Layout: b"ocsha512", h[0..7] as big-endian uint64, the number of bytes hashed as
        big-endian uint64, one byte n = bytes buffered (0..127), then 128 bytes whose
        first n are the buffered input and the rest zero.
        """
        h, total, buffered = self._core.parts()
        return _STATE.pack(STATE_MAGIC, *h, total, len(buffered), buffered)

    @staticmethod
    def from_state(state) -> Sha512:
        """Return a hasher resumed from `export_state()` output (either core's).

        Raises ValueError if `state` has the wrong length or magic, buffers more than 127
        bytes, or its byte count disagrees with what it buffers.
        """
        state = memoryview(state).cast("B")
        if len(state) != _STATE.size:
            raise ValueError(f"SHA-512 state must be {_STATE.size} bytes, got {len(state)}")
        magic, *h, total, n, buffer = _STATE.unpack(state)
        if magic != STATE_MAGIC:
            raise ValueError("not an ocicache SHA-512 state (bad magic)")
        if n > 127:
            raise ValueError(f"SHA-512 state buffers {n} bytes; at most 127 allowed")
        if total % 128 != n:
            raise ValueError(f"SHA-512 state is inconsistent: {total} bytes hashed but {n} buffered")
        obj = Sha512.__new__(Sha512)
        obj._core = _Core.from_parts(h, total, buffer[:n])
        return obj

    def update_and_write(self, fd: int, data, offset: int) -> int:
        """Hash `data` and pwrite() all of it to `fd` at `offset`; return its length.

        Short writes are continued and EINTR retried (by os.pwrite). On error raises
        OSError (errno set); the hasher is then unchanged, though part of `data` may
        already be in the file.
        """
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        staged = self._core.copy()
        staged.update(data)
        with memoryview(data) as view, view.cast("B") as flat:
            done = 0
            while done < len(flat):
                done += os.pwrite(fd, flat[done:], offset + done)
        self._core = staged
        return done


# ---- libcrypto core ----

class _SHA512_CTX(ctypes.Structure):
    """OpenSSL's SHA512_CTX (same in OpenSSL 1.1/3.x, LibreSSL, BoringSSL)."""

    _fields_ = [
        ("h", ctypes.c_uint64 * 8),
        ("Nl", ctypes.c_uint64),  # bits hashed, low word
        ("Nh", ctypes.c_uint64),  # bits hashed, high word
        ("data", ctypes.c_uint8 * 128),  # a union with uint64[16]; holds the buffered bytes as is
        ("num", ctypes.c_uint),  # bytes buffered
        ("md_len", ctypes.c_uint),
    ]


def _type_libcrypto(lib):
    """`lib` (the libcrypto `_digest_py` loaded) with SHA512_* typed, or None."""
    if lib is None:
        return None
    try:
        ctx_p = ctypes.POINTER(_SHA512_CTX)
        lib.SHA512_Init.argtypes = [ctx_p]
        lib.SHA512_Update.argtypes = [ctx_p, ctypes.c_void_p, ctypes.c_size_t]
        lib.SHA512_Final.argtypes = [ctypes.c_char_p, ctx_p]
    except AttributeError:
        return None
    return lib


_libcrypto = _type_libcrypto(_digest_py._libcrypto)


class _LibcryptoCore(_digest_py.LibcryptoCore):
    """SHA-512 in a SHA512_CTX."""

    __slots__ = ()
    CTX = _SHA512_CTX
    if _libcrypto is not None:
        INIT, UPDATE, FINAL = _libcrypto.SHA512_Init, _libcrypto.SHA512_Update, _libcrypto.SHA512_Final
    DIGEST_SIZE = 64
    COUNT_BITS = 64


# ---- pure-Python core (FIPS 180-4 section 6.4.2) ----

_BLOCK_WORDS = struct.Struct(">16Q")


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (64 - n))) & _M64


def _compress(h: list[int], blocks) -> None:
    """Advance `h` over `blocks`, whose length is a multiple of 128."""
    for start in range(0, len(blocks), 128):
        w = list(_BLOCK_WORDS.unpack_from(blocks, start))
        for t in range(16, 80):
            s0 = _rotr(w[t - 15], 1) ^ _rotr(w[t - 15], 8) ^ (w[t - 15] >> 7)
            s1 = _rotr(w[t - 2], 19) ^ _rotr(w[t - 2], 61) ^ (w[t - 2] >> 6)
            w.append((w[t - 16] + s0 + w[t - 7] + s1) & _M64)
        a, b, c, d, e, f, g, hh = h
        for t in range(80):
            t1 = hh + (_rotr(e, 14) ^ _rotr(e, 18) ^ _rotr(e, 41)) + ((e & f) ^ (~e & g)) + _K[t] + w[t]
            t2 = (_rotr(a, 28) ^ _rotr(a, 34) ^ _rotr(a, 39)) + ((a & b) ^ (a & c) ^ (b & c))
            a, b, c, d, e, f, g, hh = (t1 + t2) & _M64, a, b, c, (d + t1) & _M64, e, f, g
        h[:] = [(x + y) & _M64 for x, y in zip(h, (a, b, c, d, e, f, g, hh))]


class _PureCore:
    """Hash state held in Python ints; used only when libcrypto is missing."""

    __slots__ = ("h", "total", "buffer")

    def __init__(self) -> None:
        self.h = list(_H0)
        self.total = 0
        self.buffer = bytearray()

    def update(self, data) -> None:
        with memoryview(data) as view:
            self.total += view.nbytes
            self.buffer += view.cast("B")
        whole = len(self.buffer) // 128 * 128
        _compress(self.h, self.buffer[:whole])
        del self.buffer[:whole]

    def digest(self) -> bytes:
        # FIPS 180-4 section 5.1.2: 0x80, zeros to 112 mod 128, length in bits (128 bits).
        pad = bytes(-(len(self.buffer) + 17) % 128)
        tail = self.buffer + b"\x80" + pad + (self.total << 3).to_bytes(16, "big")
        h = list(self.h)
        _compress(h, tail)
        return struct.pack(">8Q", *h)

    def copy(self) -> _PureCore:
        return self.from_parts(self.h, self.total, self.buffer)

    def parts(self) -> tuple[tuple[int, ...], int, bytes]:
        """Return (h, bytes hashed, buffered bytes)."""
        return tuple(self.h), self.total, bytes(self.buffer)

    @classmethod
    def from_parts(cls, h, total: int, buffered: bytes) -> _PureCore:
        core = cls()
        core.h = list(h)
        core.total = total
        core.buffer = bytearray(buffered)
        return core


_Core = _LibcryptoCore if _libcrypto is not None else _PureCore
