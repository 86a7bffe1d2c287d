"""SHA-512 with exportable state (`_sha512_py`): both cores (libcrypto through ctypes, and the
pure-Python one used without libcrypto) against NIST vectors and hashlib, state export across
cores, the fused write, and the `digest` selector's by-algorithm helpers."""
from __future__ import annotations

import errno
import hashlib
import os
import struct
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocicache.hotpaths import _sha512_py, digest

examples = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)

NIST_VECTORS = [
    (b"", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
          "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
    (b"abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
             "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
    (b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
     b"mnopqrstnopqrstu", "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
                         "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"),
    (b"a" * 1_000_000, "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
                       "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"),
]
H0 = bytes.fromhex("6a09e667f3bcc908bb67ae8584caa73b3c6ef372fe94f82ba54ff53a5f1d36f1"
                   "510e527fade682d19b05688c2b3e6c1f1f83d9abfb41bd6b5be0cd19137e2179")
CORES = {"libcrypto": _sha512_py._LibcryptoCore, "pure": _sha512_py._PureCore}


def test_libcrypto_core_is_in_use():
    """On this machine libcrypto is present: the fast core must be the one chosen."""
    assert _sha512_py._Core is _sha512_py._LibcryptoCore


@pytest.fixture(params=list(CORES))
def sha512(request, monkeypatch):
    monkeypatch.setattr(_sha512_py, "_Core", CORES[request.param])
    return _sha512_py.Sha512


@pytest.fixture(params=[("libcrypto", "pure"), ("pure", "libcrypto")], ids=lambda pair: "->".join(pair))
def core_pair(request):
    return tuple(CORES[name] for name in request.param)


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


@pytest.mark.parametrize(("message", "expected"), NIST_VECTORS, ids=["empty", "abc", "896-bit", "million-a"])
def test_nist_vectors(sha512, message, expected):
    h = sha512()
    h.update(message)
    assert h.hexdigest() == expected
    assert h.digest() == bytes.fromhex(expected)


def test_constants_are_the_published_ones():
    assert struct.pack(">8Q", *_sha512_py._H0) == H0
    assert (_sha512_py._K[0], _sha512_py._K[1], _sha512_py._K[79]) == (
        0x428A2F98D728AE22, 0x7137449123EF65CD, 0x6C44198C4A475817)


def test_hashlib_attributes(sha512):
    h = sha512()
    assert (h.name, h.digest_size, h.block_size) == ("sha512", 64, 128)


@examples
@given(data=st.binary(max_size=5000), cuts=st.lists(st.integers(0, 5000), max_size=8))
def test_random_splits_match_hashlib(sha512, data, cuts):
    h = sha512()
    for piece in split_at(data, cuts):
        h.update(piece)
    assert h.digest() == hashlib.sha512(data).digest()


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview, lambda b: memoryview(b"xx" + b + b"yy")[2:-2]])
def test_update_accepts_buffers(sha512, wrap):
    data = os.urandom(10_000)
    h = sha512()
    h.update(wrap(data))
    assert h.digest() == hashlib.sha512(data).digest()


def test_update_rejects_str(sha512):
    with pytest.raises(TypeError):
        sha512().update("text")


@examples
@given(data=st.binary(max_size=3000), cut=st.integers(0, 3000))
def test_export_import_same_core(sha512, data, cut):
    h = sha512()
    h.update(data[:cut])
    state = h.export_state()
    assert len(state) == 209
    resumed = sha512.from_state(state)
    assert resumed.export_state() == state
    resumed.update(data[cut:])
    assert resumed.digest() == hashlib.sha512(data).digest()


@examples
@given(data=st.binary(max_size=3000), cut=st.integers(0, 3000))
def test_export_import_across_cores(core_pair, monkeypatch, data, cut):
    exporter, importer = core_pair
    monkeypatch.setattr(_sha512_py, "_Core", exporter)
    a = _sha512_py.Sha512()
    a.update(data[:cut])
    monkeypatch.setattr(_sha512_py, "_Core", importer)
    b = _sha512_py.Sha512()
    b.update(data[:cut])
    assert a.export_state() == b.export_state()
    resumed = _sha512_py.Sha512.from_state(a.export_state())
    assert isinstance(resumed._core, importer)
    resumed.update(data[cut:])
    assert resumed.digest() == hashlib.sha512(data).digest()


def test_export_layout(sha512):
    assert sha512().export_state()[8:72] == H0
    h = sha512()
    h.update(b"x" * 140)
    state = h.export_state()
    assert state[:8] == b"ocsha512"
    assert struct.unpack(">Q", state[72:80])[0] == 140
    assert state[80] == 12
    assert state[81:] == b"x" * 12 + bytes(116)


def test_copy_is_independent_and_digest_does_not_finalize(sha512):
    h = sha512()
    h.update(b"common")
    c = h.copy()
    c.update(b" copy")
    assert h.digest() == h.digest() == hashlib.sha512(b"common").digest()
    h.update(b" original")
    assert c.digest() == hashlib.sha512(b"common copy").digest()
    assert h.digest() == hashlib.sha512(b"common original").digest()


def _set(state: bytearray, offset: int, value: bytes) -> bytes:
    state[offset: offset + len(value)] = value
    return bytes(state)


@pytest.mark.parametrize("corrupt", [
    lambda s: b"",
    lambda s: bytes(s[:-1]),
    lambda s: bytes(s) + b"\0",
    lambda s: _set(s, 0, b"ocsha256"),
    lambda s: _set(s, 80, b"\x80"),  # n = 128
    lambda s: _set(s, 80, b"\x05"),  # 140 bytes hashed but 5 buffered
], ids=["empty", "short", "long", "magic", "n-too-big", "n-mismatch"])
def test_from_state_rejects_garbage(sha512, corrupt):
    h = sha512()
    h.update(b"z" * 140)
    with pytest.raises(ValueError, match="SHA-512 state"):
        sha512.from_state(corrupt(bytearray(h.export_state())))


writes = st.lists(st.tuples(st.integers(0, 200_000), st.binary(min_size=0, max_size=5000)), min_size=1, max_size=6)


@examples
@given(writes=writes)
def test_update_and_write_places_bytes_and_hashes(sha512, writes):
    h = sha512()
    image = bytearray()
    with tempfile.TemporaryFile() as f:
        for offset, chunk in writes:
            assert h.update_and_write(f.fileno(), chunk, offset) == len(chunk)
            end = offset + len(chunk)
            image.extend(bytes(max(0, end - len(image))))
            image[offset:end] = chunk
        f.seek(0)
        on_disk = f.read()
    assert on_disk == bytes(image[: len(on_disk)]) and not any(image[len(on_disk):])
    assert h.digest() == hashlib.sha512(b"".join(chunk for _, chunk in writes)).digest()


def test_update_and_write_error_leaves_state(sha512, tmp_path):
    path = tmp_path / "ro"
    path.write_bytes(b"")
    h = sha512()
    h.update(b"before")
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(OSError) as err:
            h.update_and_write(fd, bytes(300_000), 0)
        assert err.value.errno == errno.EBADF
        with pytest.raises(ValueError):
            h.update_and_write(fd, b"data", -1)
    finally:
        os.close(fd)
    assert h.digest() == hashlib.sha512(b"before").digest()


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_selector_by_algorithm(algorithm, tmp_path):
    data = os.urandom(2 * (1 << 20) + 77)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert digest.hex_of_file(path, algorithm) == hashlib.new(algorithm, data).hexdigest()
    h = digest.new(algorithm)
    h.update(data[:1000])
    resumed = digest.from_state(algorithm, h.export_state())
    resumed.update(data[1000:])
    assert resumed.hexdigest() == hashlib.new(algorithm, data).hexdigest()
    assert digest.ALGORITHMS == ("sha256", "sha512")


def test_selector_refuses_other_algorithms_and_foreign_states():
    with pytest.raises(ValueError, match="sha384"):
        digest.new("sha384")
    with pytest.raises(ValueError, match="SHA-512 state"):
        digest.from_state("sha512", digest.new("sha256").export_state())
    with pytest.raises(ValueError, match="SHA-256 state"):
        digest.from_state("sha256", digest.new("sha512").export_state())
