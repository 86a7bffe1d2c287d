"""SHA-256 twins: vectors, hashlib equivalence, state export across twins, fused write."""
from __future__ import annotations

import array
import errno
import hashlib
import os
import struct
import subprocess
import sys
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocicache.hotpaths import digest, rangecopy

from .conftest import IN_CI

# The implementation fixtures are constant across examples.
examples = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)

NIST_VECTORS = [
    (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    (
        b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    ),
    (b"a" * 1_000_000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
]


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    """`data` cut at the given positions (clamped and sorted)."""
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


@pytest.mark.parametrize(("message", "expected"), NIST_VECTORS, ids=["empty", "abc", "448-bit", "million-a"])
def test_nist_vectors(sha_impl, message, expected):
    h = sha_impl.Sha256()
    h.update(message)
    assert h.hexdigest() == expected
    assert h.digest() == bytes.fromhex(expected)


def test_hashlib_attributes(sha_impl):
    h = sha_impl.Sha256()
    assert (h.name, h.digest_size, h.block_size) == ("sha256", 32, 64)
    assert sha_impl.cpu_features() in ({"sha-ni", "portable"} if sha_impl.IMPLEMENTATION == "c" else {"python"})


@examples
@given(data=st.binary(max_size=5000), cuts=st.lists(st.integers(0, 5000), max_size=8))
def test_random_splits_match_hashlib(sha_impl, data, cuts):
    h = sha_impl.Sha256()
    for piece in split_at(data, cuts):
        h.update(piece)
    assert h.digest() == hashlib.sha256(data).digest()


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview, lambda b: memoryview(b"xx" + b + b"yy")[2:-2]])
def test_update_accepts_buffers(sha_impl, wrap):
    data = os.urandom(10_000)
    h = sha_impl.Sha256()
    h.update(wrap(data))
    assert h.digest() == hashlib.sha256(data).digest()


def test_update_counts_bytes_of_wide_buffers(sha_impl):
    words = array.array("I", range(1000))
    h = sha_impl.Sha256()
    h.update(words)
    assert h.digest() == hashlib.sha256(words.tobytes()).digest()


def test_update_rejects_str(sha_impl):
    with pytest.raises(TypeError):
        sha_impl.Sha256().update("text")


@examples
@given(data=st.binary(max_size=3000), cut=st.integers(0, 3000))
def test_export_import_same_impl(sha_impl, data, cut):
    head, tail = data[:cut], data[cut:]
    h = sha_impl.Sha256()
    h.update(head)
    state = h.export_state()
    assert len(state) == 113
    resumed = sha_impl.Sha256.from_state(state)
    assert resumed.export_state() == state
    resumed.update(tail)
    assert resumed.digest() == hashlib.sha256(data).digest()


@examples
@given(data=st.binary(max_size=3000), cut=st.integers(0, 3000))
def test_export_import_cross_impl(sha_pair, data, cut):
    exporter, importer = sha_pair
    head, tail = data[:cut], data[cut:]
    a, b = exporter.Sha256(), importer.Sha256()
    a.update(head)
    b.update(head)
    assert a.export_state() == b.export_state()
    resumed = importer.Sha256.from_state(a.export_state())
    resumed.update(tail)
    assert resumed.digest() == hashlib.sha256(data).digest()


def test_export_layout(sha_impl):
    fresh = sha_impl.Sha256().export_state()
    assert fresh[8:40] == bytes.fromhex("6a09e667bb67ae853c6ef372a54ff53a510e527f9b05688c1f83d9ab5be0cd19")
    h = sha_impl.Sha256()
    h.update(b"x" * 70)
    state = h.export_state()
    assert state[:8] == b"ocsha256"
    assert struct.unpack(">Q", state[40:48])[0] == 70
    assert state[48] == 6
    assert state[49:] == b"x" * 6 + bytes(58)


def test_copy_is_independent(sha_impl):
    h = sha_impl.Sha256()
    h.update(b"common")
    c = h.copy()
    c.update(b" copy")
    h.update(b" original")
    assert c.digest() == hashlib.sha256(b"common copy").digest()
    assert h.digest() == hashlib.sha256(b"common original").digest()


def test_digest_does_not_finalize(sha_impl):
    h = sha_impl.Sha256()
    h.update(b"a" * 100)
    first = h.digest()
    assert h.digest() == first
    h.update(b"b" * 100)
    assert h.digest() == hashlib.sha256(b"a" * 100 + b"b" * 100).digest()


def _valid_state(impl) -> bytearray:
    h = impl.Sha256()
    h.update(b"z" * 70)
    return bytearray(h.export_state())


def _set(state: bytearray, offset: int, value: bytes) -> bytes:
    state[offset : offset + len(value)] = value
    return bytes(state)


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda s: b"",
        lambda s: bytes(s[:-1]),
        lambda s: bytes(s) + b"\0",
        lambda s: _set(s, 0, b"notsha25"),
        lambda s: _set(s, 48, b"\x40"),  # n = 64
        lambda s: _set(s, 48, b"\x05"),  # 70 bytes hashed but 5 buffered
        lambda s: _set(s, 40, struct.pack(">Q", (1 << 61) + 6)),  # beyond SHA-256's length limit
    ],
    ids=["empty", "short", "long", "magic", "n-too-big", "n-mismatch", "too-long-message"],
)
def test_from_state_rejects_garbage(sha_impl, corrupt):
    with pytest.raises(ValueError, match="SHA-256 state"):
        sha_impl.Sha256.from_state(corrupt(_valid_state(sha_impl)))


writes = st.lists(st.tuples(st.integers(0, 200_000), st.binary(min_size=0, max_size=5000)), min_size=1, max_size=6)


@examples
@given(writes=writes)
def test_update_and_write_places_bytes_and_hashes(sha_impl, writes):
    h = sha_impl.Sha256()
    image = bytearray()
    with tempfile.TemporaryFile() as f:
        for offset, chunk in writes:
            assert h.update_and_write(f.fileno(), chunk, offset) == len(chunk)
            end = offset + len(chunk)
            image.extend(bytes(max(0, end - len(image))))
            image[offset:end] = chunk
        f.seek(0)
        on_disk = f.read()
    assert on_disk == bytes(image[: len(on_disk)]) and not any(image[len(on_disk) :])
    assert h.digest() == hashlib.sha256(b"".join(chunk for _, chunk in writes)).digest()


def test_update_and_write_large_chunks(sha_impl, tmp_path):
    """Chunks past 256 KiB take the C twin's overlapped path (write in a helper thread)."""
    chunks = [(5_000_000, os.urandom(300_001)), (0, os.urandom(262_144)), (262_144, os.urandom(1000))]
    h = sha_impl.Sha256()
    fd = os.open(tmp_path / "big", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        for offset, chunk in chunks:
            assert h.update_and_write(fd, memoryview(chunk), offset) == len(chunk)
        for offset, chunk in chunks:
            assert os.pread(fd, len(chunk), offset) == chunk
        assert os.pread(fd, 100, 263_144) == bytes(100)  # the hole stays zero
    finally:
        os.close(fd)
    assert h.digest() == hashlib.sha256(b"".join(chunk for _, chunk in chunks)).digest()


@pytest.mark.parametrize("size", [4, 300_000], ids=["small", "overlapped"])
def test_update_and_write_error_leaves_state(sha_impl, tmp_path, size):
    path = tmp_path / "ro"
    path.write_bytes(b"")
    h = sha_impl.Sha256()
    h.update(b"before")
    fd = os.open(path, os.O_RDONLY)
    try:
        with pytest.raises(OSError) as err:
            h.update_and_write(fd, bytes(size), 0)
        assert err.value.errno == errno.EBADF
        with pytest.raises(ValueError):
            h.update_and_write(fd, b"data", -1)
    finally:
        os.close(fd)
    assert h.digest() == hashlib.sha256(b"before").digest()


def test_sha256_hex_of_file(tmp_path):
    data = os.urandom(3 * (1 << 20) + 123)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert digest.sha256_hex_of_file(path) == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("module", [digest, rangecopy], ids=["digest", "rangecopy"])
def test_extension_loaded(module):
    if module.NO_EXTENSIONS:
        assert module.IMPLEMENTATION == "python"
    elif module.EXTENSION_BUILT or IN_CI:
        assert module.IMPLEMENTATION == "c", f"{module.__name__} fell back to the Python twin"


def _run(code: str, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def test_no_extensions_switch():
    code = "from ocicache.hotpaths import digest, rangecopy; print(digest.IMPLEMENTATION, rangecopy.IMPLEMENTATION)"
    assert _run(code, OCICACHE_NO_EXTENSIONS="1") == "python python"


def test_portable_c_backend():
    if not digest.EXTENSION_BUILT and not IN_CI:
        pytest.skip("ocicache.hotpaths._digest_c was not built")
    code = (
        "import hashlib, os; from ocicache.hotpaths._digest_c import Sha256, cpu_features\n"
        "data = os.urandom(100_003); h = Sha256(); h.update(data[:7]); h.update(data[7:])\n"
        "print(cpu_features(), h.digest() == hashlib.sha256(data).digest())"
    )
    assert _run(code, OCICACHE_NO_SHA_NI="1") == "portable True"
