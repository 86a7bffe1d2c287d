# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, auto_pickle=False
"""SHA-256 with exportable state, in C: the twin of ocicache/hotpaths/_digest_py.py.

Read the two side by side; they expose the same names with the same contracts
and exchange states in the same 113-byte format (see `Sha256.export_state`).
"""
import os

from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_FromStringAndSize
from libc.errno cimport EINTR, errno
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy, memset, strerror
from posix.unistd cimport pwrite


cdef extern from "<pthread.h>" nogil:
    ctypedef unsigned long pthread_t
    int pthread_create(pthread_t *thread, const void *attr, void *(*start)(void *) noexcept nogil, void *arg)
    int pthread_join(pthread_t thread, void **retval)


cdef extern from "sha256_impl.h" nogil:
    ctypedef struct sha256_state:
        uint32_t h[8]
        uint64_t total
        uint8_t buffer[64]
        uint32_t buflen
    const char *sha256_select_backend(int allow_accelerated)
    void sha256_init(sha256_state *s)
    void sha256_update(sha256_state *s, const uint8_t *data, size_t len)
    void sha256_digest(const sha256_state *s, uint8_t *out)


IMPLEMENTATION = "c"

# OCICACHE_NO_SHA_NI=1 forces the portable compression function (for tests).
_BACKEND = sha256_select_backend(not os.environ.get("OCICACHE_NO_SHA_NI")).decode()

cdef enum:
    GIL_RELEASE_MIN = 4096    # below this, hashing costs less than dropping the GIL
    OVERLAP_MIN = 256 * 1024  # from this, update_and_write writes in a helper thread while hashing
    STATE_SIZE = 113          # magic 8 + h 32 + total 8 + n 1 + buffer 64
    MAGIC_SIZE = 8

cdef const char *STATE_MAGIC = b"ocsha256"
cdef uint64_t MAX_TOTAL = (<uint64_t>1) << 61  # the message length is counted in 64 bits


def cpu_features():
    """Return the compression function in use: "sha-ni" or "portable"."""
    return _BACKEND


cdef inline uint64_t load_be(const uint8_t *p, int width) noexcept nogil:
    cdef uint64_t v = 0
    cdef int i
    for i in range(width):
        v = (v << 8) | p[i]
    return v


cdef inline void store_be(uint8_t *p, uint64_t v, int width) noexcept nogil:
    cdef int i
    for i in range(width - 1, -1, -1):
        p[i] = <uint8_t>(v & 0xFF)
        v >>= 8


cdef struct WriteJob:
    int fd
    const char *buf
    size_t length
    long long offset
    size_t done
    int err


cdef void *write_all(void *arg) noexcept nogil:
    """pwrite() all of job.buf at job.offset, retrying EINTR; sets job.done and job.err."""
    cdef WriteJob *job = <WriteJob *>arg
    cdef ssize_t n
    while job.done < job.length:
        n = pwrite(job.fd, job.buf + job.done, job.length - job.done, job.offset + <long long>job.done)
        if n >= 0:
            job.done += <size_t>n
        elif errno != EINTR:
            job.err = errno
            break
    return NULL


cdef class Sha256:
    """An incremental SHA-256 hasher whose state can be exported and resumed.

    Behaves like hashlib.sha256() for update/digest/hexdigest/copy. One hasher
    must not be used by two threads at once: unlike hashlib there is no lock,
    and the GIL is released while large inputs are hashed.
    """

    name = "sha256"
    digest_size = 32
    block_size = 64

    cdef sha256_state st

    def __cinit__(self):
        sha256_init(&self.st)

    def update(self, data):
        """Hash the bytes of `data` (any C-contiguous buffer)."""
        cdef Py_buffer view
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        try:
            if view.len >= GIL_RELEASE_MIN:
                with nogil:
                    sha256_update(&self.st, <const uint8_t *>view.buf, <size_t>view.len)
            else:
                sha256_update(&self.st, <const uint8_t *>view.buf, <size_t>view.len)
        finally:
            PyBuffer_Release(&view)

    def digest(self):
        """Return the 32-byte digest of everything hashed so far; the hasher can go on."""
        cdef uint8_t out[32]
        sha256_digest(&self.st, out)
        return PyBytes_FromStringAndSize(<char *>out, 32)

    def hexdigest(self):
        """Return `digest()` as 64 lowercase hex characters."""
        return self.digest().hex()

    def copy(self):
        """Return an independent hasher with the same state."""
        cdef Sha256 other = Sha256.__new__(Sha256)
        other.st = self.st
        return other

    def export_state(self):
        """Return the state as 113 bytes that `from_state` of either twin accepts.

        Layout: b"ocsha256", h[0..7] as big-endian uint32, the number of bytes
        hashed as big-endian uint64, one byte n = bytes buffered (0..63), then
        64 bytes whose first n are the buffered input and the rest zero.
        """
        cdef uint8_t out[STATE_SIZE]
        cdef int i
        memset(out, 0, STATE_SIZE)
        memcpy(out, STATE_MAGIC, MAGIC_SIZE)
        for i in range(8):
            store_be(out + 8 + 4 * i, self.st.h[i], 4)
        store_be(out + 40, self.st.total, 8)
        out[48] = <uint8_t>self.st.buflen
        memcpy(out + 49, self.st.buffer, self.st.buflen)
        return PyBytes_FromStringAndSize(<char *>out, STATE_SIZE)

    @staticmethod
    def from_state(state):
        """Return a hasher resumed from `export_state()` output of either twin.

        Raises ValueError if `state` has the wrong length or magic, buffers
        more than 63 bytes, or its byte count disagrees with what it buffers.
        """
        cdef const uint8_t[::1] s = state
        cdef Sha256 obj
        cdef uint64_t total
        cdef uint32_t n
        cdef int i
        if s.shape[0] != STATE_SIZE:
            raise ValueError(f"SHA-256 state must be {STATE_SIZE} bytes, got {s.shape[0]}")
        if memcmp(&s[0], STATE_MAGIC, MAGIC_SIZE) != 0:
            raise ValueError("not an ocicache SHA-256 state (bad magic)")
        total = load_be(&s[40], 8)
        n = s[48]
        if n > 63:
            raise ValueError(f"SHA-256 state buffers {n} bytes; at most 63 allowed")
        if total % 64 != n:
            raise ValueError(f"SHA-256 state is inconsistent: {total} bytes hashed but {n} buffered")
        if total >= MAX_TOTAL:
            raise ValueError(f"SHA-256 state counts {total} bytes, beyond the 2**61 byte limit")
        obj = Sha256.__new__(Sha256)
        for i in range(8):
            obj.st.h[i] = <uint32_t>load_be(&s[8 + 4 * i], 4)
        obj.st.total = total
        obj.st.buflen = n
        memcpy(obj.st.buffer, &s[49], n)
        return obj

    def update_and_write(self, int fd, data, long long offset):
        """Hash `data` and pwrite() all of it to `fd` at `offset`; return its length.

        Short writes are continued and EINTR retried, with the GIL released.
        From OVERLAP_MIN bytes the write runs in a short-lived helper thread
        while this one hashes, so the call costs about the larger of the two
        instead of their sum. On error raises OSError (errno set); the hasher
        is then unchanged, though part of `data` may already be in the file.
        """
        cdef Py_buffer view
        cdef sha256_state staged = self.st
        cdef WriteJob job
        cdef pthread_t writer
        if offset < 0:
            raise ValueError(f"offset must be >= 0, got {offset}")
        PyObject_GetBuffer(data, &view, PyBUF_SIMPLE)
        job = WriteJob(fd=fd, buf=<const char *>view.buf, length=<size_t>view.len, offset=offset, done=0, err=0)
        try:
            with nogil:
                if job.length >= OVERLAP_MIN and pthread_create(&writer, NULL, write_all, &job) == 0:
                    sha256_update(&staged, <const uint8_t *>job.buf, job.length)
                    pthread_join(writer, NULL)
                else:
                    sha256_update(&staged, <const uint8_t *>job.buf, job.length)
                    write_all(&job)
        finally:
            PyBuffer_Release(&view)
        if job.err:
            raise OSError(job.err, strerror(job.err).decode())
        self.st = staged
        return job.done
