# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Zero-copy range transfers, in C with the GIL released: the twin of ocicache/hotpaths/_rangecopy_py.py.

Linux only (sendfile(2), copy_file_range(2)); elsewhere the build falls back
to the twin.
"""
from libc.errno cimport EAGAIN, EINTR, EINVAL, ENOMEM, ENOSYS, EOPNOTSUPP, EXDEV, errno
from libc.stdlib cimport free, malloc
from libc.string cimport strerror
from posix.types cimport off_t
from posix.unistd cimport pread, pwrite


cdef extern from "<sys/sendfile.h>" nogil:
    ssize_t sys_sendfile "sendfile"(int out_fd, int in_fd, off_t *offset, size_t count)

cdef extern from "<sys/socket.h>" nogil:
    ssize_t sys_send "send"(int sockfd, const void *buf, size_t length, int flags)
    enum: MSG_MORE

cdef extern from "<unistd.h>" nogil:
    ssize_t copy_file_range(int fd_in, off_t *off_in, int fd_out, off_t *off_out,
                            size_t length, unsigned int flags)


IMPLEMENTATION = "c"

cdef enum:
    FALLBACK_CHUNK = 1 << 20  # bytes per pread/pwrite when copy_file_range cannot be used


cdef int raise_errno(int err) except -1:
    # OSError(errno, ...) picks the subclass itself: EAGAIN gives BlockingIOError.
    raise OSError(err, strerror(err).decode())


cdef int check_range(long long offset, long long count) except -1:
    if offset < 0 or count < 0:
        raise ValueError(f"offset and count must be >= 0, got {offset} and {count}")
    return 0


def sendfile(int out_fd, int in_fd, long long offset, long long count):
    """Send up to `count` bytes of `in_fd` from `offset` to the socket `out_fd` in one sendfile(2).

    Returns the bytes sent; 0 means `count` was 0 or `in_fd` has no data at
    `offset`. Raises BlockingIOError if the (non-blocking) socket accepted
    nothing, OSError for other errors. EINTR is retried.
    """
    cdef off_t off = offset
    cdef ssize_t sent
    cdef int err = 0
    check_range(offset, count)
    with nogil:
        while True:
            sent = sys_sendfile(out_fd, in_fd, &off, <size_t>count)
            if sent >= 0 or errno != EINTR:
                break
        if sent < 0:
            err = errno
    if err:
        raise_errno(err)
    return sent


def send_head_and_file(int out_fd, bytes head, int in_fd, long long offset, long long count):
    """Send `head` with MSG_MORE, then up to `count` bytes of `in_fd` from `offset` in one sendfile(2).

    MSG_MORE makes the kernel hold the head for the file bytes that follow, so a response's
    headers and body leave in full segments, without a cork/uncork pair. Returns the bytes
    sent, head first: fewer than len(head) means only that much of the head went (call
    again with the rest); len(head) + n means n file bytes went, where n is 0 also when the
    socket filled after the head (continue with `sendfile`, whose 0 means end of file).
    Raises BlockingIOError if the (non-blocking) socket accepted nothing, OSError for other
    errors. EINTR is retried.
    """
    cdef const char *buf = head
    cdef Py_ssize_t length = len(head)
    cdef off_t off = offset
    cdef ssize_t put, sent = 0
    cdef int err = 0
    check_range(offset, count)
    with nogil:
        while True:
            put = sys_send(out_fd, buf, <size_t>length, MSG_MORE)
            if put >= 0 or errno != EINTR:
                break
        if put < 0:
            err = errno
        elif put == length and count > 0:
            while True:
                sent = sys_sendfile(out_fd, in_fd, &off, <size_t>count)
                if sent >= 0 or errno != EINTR:
                    break
            if sent < 0:
                if errno != EAGAIN:
                    err = errno
                sent = 0
    if err:
        raise_errno(err)
    return put + sent


cdef int copy_with_syscall(int in_fd, int out_fd, off_t *in_off, off_t *out_off,
                           long long count, long long *done) noexcept nogil:
    """copy_file_range(2) until `count` bytes are copied or EOF; 0 or an errno."""
    cdef ssize_t n
    while done[0] < count:
        n = copy_file_range(in_fd, in_off, out_fd, out_off, <size_t>(count - done[0]), 0)
        if n > 0:
            done[0] += n
        elif n == 0:
            return 0
        elif errno != EINTR:
            return errno
    return 0


cdef int copy_with_pread(int in_fd, int out_fd, off_t *in_off, off_t *out_off,
                         long long count, long long *done) noexcept nogil:
    """pread(2)/pwrite(2) until `count` bytes are copied or EOF; 0 or an errno."""
    cdef char *buf = <char *>malloc(FALLBACK_CHUNK)
    cdef ssize_t got, put, written
    cdef int err = 0
    if buf == NULL:
        return ENOMEM
    while done[0] < count and err == 0:
        got = pread(in_fd, buf, <size_t>min(count - done[0], <long long>FALLBACK_CHUNK), in_off[0])
        if got == 0:
            break
        if got < 0:
            if errno != EINTR:
                err = errno
            continue
        written = 0
        while written < got:
            put = pwrite(out_fd, buf + written, <size_t>(got - written), out_off[0] + written)
            if put >= 0:
                written += put
            elif errno != EINTR:
                err = errno
                break
        in_off[0] += written
        out_off[0] += written
        done[0] += written
    free(buf)
    return err


def copy_range(int in_fd, int out_fd, long long in_offset, long long out_offset, long long count):
    """Copy up to `count` bytes from `in_fd` at `in_offset` to `out_fd` at `out_offset`.

    Uses copy_file_range(2), falling back to pread/pwrite when the kernel or
    filesystem refuses it (EXDEV, ENOSYS, EINVAL, EOPNOTSUPP). Stops early only
    at EOF of `in_fd`. Returns the bytes copied. Raises OSError on other
    errors, after which part of the range may have been copied.
    """
    cdef off_t in_off = in_offset, out_off = out_offset
    cdef long long done = 0
    cdef int err
    check_range(in_offset, count)
    check_range(out_offset, count)
    with nogil:
        err = copy_with_syscall(in_fd, out_fd, &in_off, &out_off, count, &done)
        if err == EXDEV or err == ENOSYS or err == EINVAL or err == EOPNOTSUPP:
            err = copy_with_pread(in_fd, out_fd, &in_off, &out_off, count, &done)
    if err:
        raise_errno(err)
    return done
