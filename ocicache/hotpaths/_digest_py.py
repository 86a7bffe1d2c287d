"""SHA-256 with exportable state, in Python: the twin of ext/_digest_c.pyx.

Read the two side by side; they expose the same names with the same contracts
and exchange states in the same 113-byte format (see `Sha256.export_state`).

Hashing runs in libcrypto's SHA256_Init/Update/Final through ctypes (which
drops the GIL during each call), because their SHA256_CTX is a plain struct
whose fields can be read and written. Without libcrypto a pure-Python
compression function is used: correct, but about a thousand times slower.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import struct
import sys

IMPLEMENTATION = "python"

STATE_MAGIC = b"ocsha256"
_STATE = struct.Struct(">8s8IQB64s")  # magic, h[0..7], bytes hashed, n buffered, buffer
_MAX_TOTAL = 1 << 61  # the message length is counted in 64 bits

# FIPS 180-4 section 5.3.3: the initial hash value.
_H0 = (0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19)


def cpu_features() -> str:
    """Return the compression function in use: always "python" for this twin."""
    return "python"


class Sha256:
    """An incremental SHA-256 hasher whose state can be exported and resumed.

    Behaves like hashlib.sha256() for update/digest/hexdigest/copy. One hasher
    must not be used by two threads at once: unlike hashlib there is no lock,
    and the GIL is released while inputs are hashed.
    """

    name = "sha256"
    digest_size = 32
    block_size = 64

    __slots__ = ("_core",)

    def __init__(self) -> None:
        self._core = _Core()

    def update(self, data) -> None:
        """Hash the bytes of `data` (any C-contiguous buffer)."""
        self._core.update(data)

    def digest(self) -> bytes:
        """Return the 32-byte digest of everything hashed so far; the hasher can go on."""
        return self._core.digest()

    def hexdigest(self) -> str:
        """Return `digest()` as 64 lowercase hex characters."""
        return self.digest().hex()

    def copy(self) -> Sha256:
        """Return an independent hasher with the same state."""
        other = Sha256.__new__(Sha256)
        other._core = self._core.copy()
        return other

    def export_state(self) -> bytes:
        """Return the state as 113 bytes that `from_state` of either twin accepts.

        Layout: b"ocsha256", h[0..7] as big-endian uint32, the number of bytes
        hashed as big-endian uint64, one byte n = bytes buffered (0..63), then
        64 bytes whose first n are the buffered input and the rest zero.
        """
        h, total, buffered = self._core.parts()
        return _STATE.pack(STATE_MAGIC, *h, total, len(buffered), buffered)

    @staticmethod
    def from_state(state) -> Sha256:
        """Return a hasher resumed from `export_state()` output of either twin.

        Raises ValueError if `state` has the wrong length or magic, buffers
        more than 63 bytes, or its byte count disagrees with what it buffers.
        """
        state = memoryview(state).cast("B")
        if len(state) != _STATE.size:
            raise ValueError(f"SHA-256 state must be {_STATE.size} bytes, got {len(state)}")
        magic, *h, total, n, buffer = _STATE.unpack(state)
        if magic != STATE_MAGIC:
            raise ValueError("not an ocicache SHA-256 state (bad magic)")
        if n > 63:
            raise ValueError(f"SHA-256 state buffers {n} bytes; at most 63 allowed")
        if total % 64 != n:
            raise ValueError(f"SHA-256 state is inconsistent: {total} bytes hashed but {n} buffered")
        if total >= _MAX_TOTAL:
            raise ValueError(f"SHA-256 state counts {total} bytes, beyond the 2**61 byte limit")
        obj = Sha256.__new__(Sha256)
        obj._core = _Core.from_parts(h, total, buffer[:n])
        return obj

    def update_and_write(self, fd: int, data, offset: int) -> int:
        """Hash `data` and pwrite() all of it to `fd` at `offset`; return its length.

        Short writes are continued and EINTR retried (by os.pwrite).
        On error raises OSError (errno set); the hasher is then unchanged,
        though part of `data` may already be in the file.
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

class _SHA256_CTX(ctypes.Structure):
    """OpenSSL's SHA256_CTX (same in OpenSSL 1.1/3.x, LibreSSL, BoringSSL)."""

    _fields_ = [
        ("h", ctypes.c_uint32 * 8),
        ("Nl", ctypes.c_uint32),  # bits hashed, low word
        ("Nh", ctypes.c_uint32),  # bits hashed, high word
        ("data", ctypes.c_uint8 * 64),  # declared uint32[16]; holds the buffered bytes as is
        ("num", ctypes.c_uint),  # bytes buffered
        ("md_len", ctypes.c_uint),
    ]


class _PyBuffer(ctypes.Structure):
    """CPython's Py_buffer (part of the stable ABI since 3.11)."""

    _fields_ = [
        ("buf", ctypes.c_void_p),
        ("obj", ctypes.c_void_p),
        ("len", ctypes.c_ssize_t),
        ("itemsize", ctypes.c_ssize_t),
        ("readonly", ctypes.c_int),
        ("ndim", ctypes.c_int),
        ("format", ctypes.c_char_p),
        ("shape", ctypes.c_void_p),
        ("strides", ctypes.c_void_p),
        ("suboffsets", ctypes.c_void_p),
        ("internal", ctypes.c_void_p),
    ]


def _load_libcrypto():
    """Return libcrypto with SHA256_* typed, or None if it cannot be loaded."""
    names = ["libcrypto.so.3", "libcrypto.so.1.1"]
    if sys.platform != "darwin":  # macOS aborts processes that load its unversioned libcrypto
        names.append(ctypes.util.find_library("crypto"))
    for name in filter(None, names):
        try:
            lib = ctypes.CDLL(name)
            ctx_p = ctypes.POINTER(_SHA256_CTX)
            lib.SHA256_Init.argtypes = [ctx_p]
            lib.SHA256_Update.argtypes = [ctx_p, ctypes.c_void_p, ctypes.c_size_t]
            lib.SHA256_Final.argtypes = [ctypes.c_char_p, ctx_p]
        except (OSError, AttributeError):
            continue
        return lib
    return None


_libcrypto = _load_libcrypto()

_PyObject_GetBuffer = ctypes.pythonapi.PyObject_GetBuffer
_PyObject_GetBuffer.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
_PyBuffer_Release = ctypes.pythonapi.PyBuffer_Release
_PyBuffer_Release.argtypes = [ctypes.POINTER(_PyBuffer)]
_PyBUF_SIMPLE = 0


class LibcryptoCore:
    """Hash state held in a libcrypto SHA*_CTX and advanced by libcrypto. A subclass names the
    struct (CTX), its Init/Update/Final functions, the digest size and the width of the
    struct's two bit-counter words (Nl, Nh); SHA-256 here, SHA-512 in `_sha512_py`."""

    __slots__ = ("ctx",)
    CTX: type = ctypes.Structure
    INIT = UPDATE = FINAL = None
    DIGEST_SIZE = 0
    COUNT_BITS = 0

    def __init__(self) -> None:
        self.ctx = self.CTX()
        self.INIT(self.ctx)

    def update(self, data) -> None:
        if type(data) is bytes:  # the common case: no buffer export needed
            self.UPDATE(self.ctx, data, len(data))
            return
        view = _PyBuffer()
        _PyObject_GetBuffer(data, view, _PyBUF_SIMPLE)
        try:
            self.UPDATE(self.ctx, view.buf, view.len)
        finally:
            _PyBuffer_Release(view)

    def digest(self) -> bytes:
        out = ctypes.create_string_buffer(self.DIGEST_SIZE)
        self.FINAL(out, self.copy().ctx)  # Final pads the context it is given
        return out.raw

    def copy(self) -> LibcryptoCore:
        other = type(self).__new__(type(self))
        other.ctx = self.CTX.from_buffer_copy(self.ctx)
        return other

    def parts(self) -> tuple[tuple[int, ...], int, bytes]:
        """Return (h, bytes hashed, buffered bytes)."""
        ctx = self.ctx
        return tuple(ctx.h), ((ctx.Nh << self.COUNT_BITS) | ctx.Nl) >> 3, bytes(ctx.data[: ctx.num])

    @classmethod
    def from_parts(cls, h, total: int, buffered: bytes) -> LibcryptoCore:
        core = cls()
        ctx = core.ctx
        ctx.h[:] = h
        bits = total << 3
        ctx.Nl, ctx.Nh = bits & ((1 << cls.COUNT_BITS) - 1), bits >> cls.COUNT_BITS
        ctx.data[: len(buffered)] = buffered
        ctx.num = len(buffered)
        return core


class _LibcryptoCore(LibcryptoCore):
    """SHA-256 in a SHA256_CTX."""

    __slots__ = ()
    CTX = _SHA256_CTX
    if _libcrypto is not None:
        INIT, UPDATE, FINAL = _libcrypto.SHA256_Init, _libcrypto.SHA256_Update, _libcrypto.SHA256_Final
    DIGEST_SIZE = 32
    COUNT_BITS = 32


# ---- pure-Python core (FIPS 180-4 section 6.2.2) ----

# FIPS 180-4 section 4.2.2: the first 32 bits of the fractional parts of the
# cube roots of the first 64 primes.
_K = (
    0x428A2F98, 0x71374491, 0xB5C0FBCF, 0xE9B5DBA5, 0x3956C25B, 0x59F111F1, 0x923F82A4, 0xAB1C5ED5,
    0xD807AA98, 0x12835B01, 0x243185BE, 0x550C7DC3, 0x72BE5D74, 0x80DEB1FE, 0x9BDC06A7, 0xC19BF174,
    0xE49B69C1, 0xEFBE4786, 0x0FC19DC6, 0x240CA1CC, 0x2DE92C6F, 0x4A7484AA, 0x5CB0A9DC, 0x76F988DA,
    0x983E5152, 0xA831C66D, 0xB00327C8, 0xBF597FC7, 0xC6E00BF3, 0xD5A79147, 0x06CA6351, 0x14292967,
    0x27B70A85, 0x2E1B2138, 0x4D2C6DFC, 0x53380D13, 0x650A7354, 0x766A0ABB, 0x81C2C92E, 0x92722C85,
    0xA2BFE8A1, 0xA81A664B, 0xC24B8B70, 0xC76C51A3, 0xD192E819, 0xD6990624, 0xF40E3585, 0x106AA070,
    0x19A4C116, 0x1E376C08, 0x2748774C, 0x34B0BCB5, 0x391C0CB3, 0x4ED8AA4A, 0x5B9CCA4F, 0x682E6FF3,
    0x748F82EE, 0x78A5636F, 0x84C87814, 0x8CC70208, 0x90BEFFFA, 0xA4506CEB, 0xBEF9A3F7, 0xC67178F2,
)
_BLOCK_WORDS = struct.Struct(">16I")
_M32 = 0xFFFFFFFF


def _rotr(x: int, n: int) -> int:
    return ((x >> n) | (x << (32 - n))) & _M32


def _compress(h: list[int], blocks) -> None:
    """Advance `h` over `blocks`, whose length is a multiple of 64."""
    for start in range(0, len(blocks), 64):
        w = list(_BLOCK_WORDS.unpack_from(blocks, start))
        for t in range(16, 64):
            s0 = _rotr(w[t - 15], 7) ^ _rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
            s1 = _rotr(w[t - 2], 17) ^ _rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
            w.append((w[t - 16] + s0 + w[t - 7] + s1) & _M32)
        a, b, c, d, e, f, g, hh = h
        for t in range(64):
            t1 = hh + (_rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)) + ((e & f) ^ (~e & g)) + _K[t] + w[t]
            t2 = (_rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))
            a, b, c, d, e, f, g, hh = (t1 + t2) & _M32, a, b, c, (d + t1) & _M32, e, f, g
        h[:] = [(x + y) & _M32 for x, y in zip(h, (a, b, c, d, e, f, g, hh))]


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
        whole = len(self.buffer) // 64 * 64
        _compress(self.h, self.buffer[:whole])
        del self.buffer[:whole]

    def digest(self) -> bytes:
        # FIPS 180-4 section 5.1.1: 0x80, zeros to 56 mod 64, length in bits.
        tail = self.buffer + b"\x80" + bytes(-(len(self.buffer) + 9) % 64) + struct.pack(">Q", self.total << 3)
        h = list(self.h)
        _compress(h, tail)
        return struct.pack(">8I", *h)

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
