"""A deadline for a whole request body, and no compressed request bodies (issue 21).

A body must average `[limits] body_min_rate` bytes/s after `body_grace` seconds (a body of N
bytes has body_grace + N / body_min_rate seconds in all); a trickle is answered 408 and its
connection closed, long before `body_timeout` (which times each gap) would notice. A body with
a Content-Encoding is refused with 415 before any of it is read: a registry stores the bytes
it is sent, and a digest is of those bytes.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import socket
import time

import pytest

from ..nodeproc import NodeProcess
from .test_parser_errors import parse

GRACE, RATE = 1.0, 1000


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    proc = NodeProcess(tmp_path_factory.mktemp("deadline") / "node",
                       env={"OCICACHE_LIMITS_BODY_MIN_RATE": str(RATE), "OCICACHE_LIMITS_BODY_GRACE": str(GRACE),
                            "OCICACHE_LIMITS_BODY_TIMEOUT": "60"})
    proc.start()
    yield proc
    proc.stop()


def read_until_closed(sock: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """(what the node sent, whether it closed the connection) within `timeout` seconds."""
    sock.settimeout(0.2)
    data, deadline = b"", time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return data, True
        if not chunk:
            return data, True
        data += chunk
    return data, False


def trickle(node: NodeProcess, head: bytes, pieces: list[bytes], every: float) -> tuple[float, bytes, bool]:
    """Send the head, then a piece every `every` seconds until the node answers; (seconds from the
    first body byte to the answer, the answer, whether the node then closed the connection)."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=30) as sock:
        sock.sendall(head)
        started = time.monotonic()
        sock.settimeout(every)
        for piece in pieces:
            try:
                sock.sendall(piece)
            except (BrokenPipeError, ConnectionResetError):
                break
            try:
                first = sock.recv(65536)
            except socket.timeout:
                continue
            rest, closed = read_until_closed(sock, 5.0) if first else (b"", True)
            return time.monotonic() - started, first + rest, closed
        answer, closed = read_until_closed(sock, 10.0)
        return time.monotonic() - started, answer, closed


def new_upload(node: NodeProcess, repo: str = "slow/app") -> str:
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        sock.sendall(f"POST /v2/{repo}/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n".encode())
        status, headers, _ = parse(read_until_closed(sock, 10)[0])
    assert status == 202
    return headers["location"].split("://", 1)[-1].split("/", 1)[-1]


def test_a_trickling_body_is_cut_at_its_deadline(node):
    location = new_upload(node)
    length = 100_000  # declared: may take GRACE + 100 s at most, but it must keep the average
    head = (f"PATCH /{location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()
    elapsed, answer, closed = trickle(node, head, [b"x" * 10] * 40, every=0.25)  # 40 B/s
    print(f"\ntrickle at 40 B/s (minimum {RATE} B/s after {GRACE:g} s): answered after {elapsed:.2f} s")
    status, headers, body = parse(answer)
    assert status == 408, answer[:300]
    err = json.loads(body)["errors"][0]
    assert err["code"] == "BLOB_UPLOAD_INVALID" and "body_min_rate" in err["message"]
    assert headers.get("connection") == "close" and closed
    assert GRACE <= elapsed < GRACE + 3.0  # not the 60 s of body_timeout


def test_a_trickling_chunked_body_is_cut_too(node):
    location = new_upload(node)
    head = (f"PATCH /{location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    elapsed, answer, closed = trickle(node, head, [b"5\r\nxxxxx\r\n"] * 40, every=0.25)
    assert parse(answer)[0] == 408 and closed
    assert GRACE <= elapsed < GRACE + 3.0


def test_a_body_at_a_fair_rate_is_taken(node):
    location = new_upload(node)
    data = b"y" * 3000
    head = (f"PUT /{location}{'&' if '?' in location else '?'}digest={sha(data)} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n"
            "Connection: close\r\n\r\n").encode()
    elapsed, answer, _ = trickle(node, head, [data[i:i + 500] for i in range(0, 3000, 500)], every=0.3)
    assert parse(answer)[0] == 201, answer[:300]  # 3000 B in ~1.8 s: inside GRACE + 3 s


# ---- Content-Encoding ----

def raw_request(node: NodeProcess, head: str, body: bytes = b"", wait: float = 5.0) -> tuple[int, dict, bytes, float]:
    """(status, headers, body, seconds to the first byte of the answer)."""
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(head.encode() + body)
        first = sock.recv(65536)
        first_byte = time.monotonic() - started
        rest, _ = read_until_closed(sock, wait) if b"\r\n\r\n" not in first or not _complete(first) else (b"", True)
    status, headers, payload = parse(first + rest)
    return status, headers, payload, first_byte


def _complete(answer: bytes) -> bool:
    head, _, body = answer.partition(b"\r\n\r\n")
    length = [line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    return bool(length) and len(body) >= int(length[0])


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "GZIP", "identity, gzip"])
def test_an_encoded_upload_is_refused_before_its_body_is_read(node, encoding):
    data = gzip.compress(b"\0" * 20_000_000)  # 20 KB that would become 20 MB
    location = new_upload(node)
    head = (f"PUT /{location}{'&' if '?' in location else '?'}digest={sha(data)} HTTP/1.1\r\nHost: x\r\n"
            f"Content-Encoding: {encoding}\r\nContent-Length: {len(data) + 10_000_000}\r\n\r\n")
    status, headers, body, elapsed = raw_request(node, head, data)  # most of the declared body never comes
    assert status == 415, body
    err = json.loads(body)["errors"][0]
    assert err["code"] == "UNSUPPORTED" and "Content-Encoding" in err["message"]
    assert elapsed < 3.0


@pytest.mark.parametrize("method,path", [("POST", "/v2/enc/app/blobs/uploads/"),
                                         ("PUT", "/v2/enc/app/manifests/v1")])
def test_other_bodies_with_an_encoding_are_refused_too(node, method, path):
    data = gzip.compress(b"{}")
    status, _, body, _ = raw_request(node, f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\n"
                                           f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n", data)
    assert status == 415, body


def test_identity_is_not_an_encoding(node):
    data = b"plain bytes" * 100
    status, _, body, _ = raw_request(node, f"POST /v2/enc/app/blobs/uploads/?digest={sha(data)} HTTP/1.1\r\n"
                                           f"Host: x\r\nContent-Encoding: identity\r\nContent-Length: {len(data)}\r\n"
                                           "Connection: close\r\n\r\n", data)
    assert status == 201, body


def test_the_log_has_no_traceback(node):
    location = new_upload(node)
    head = (f"PATCH /{location} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
            "Content-Length: 5000\r\n\r\n").encode()
    assert parse(trickle(node, head, [b"z"] * 20, every=0.25)[1])[0] == 408
    time.sleep(0.3)
    text = node.log_path.read_text()
    assert "Traceback" not in text and '"exception"' not in text, text[-3000:]
    assert '"status":408' in text.replace(" ", "")  # the access log has the cut requests


def test_a_trickling_token_form_is_cut_too(tmp_path):
    from ocicache.auth import tokens

    from .conftest import write_htpasswd

    key = tmp_path / "token.pem"
    tokens.keygen(key)
    node = NodeProcess(tmp_path / "node", "--htpasswd", str(write_htpasswd(tmp_path / "htpasswd")),
                       "--token-key", str(key), env={"OCICACHE_LIMITS_BODY_MIN_RATE": "16384",
                                                     "OCICACHE_LIMITS_BODY_GRACE": str(GRACE)})
    node.start()
    try:
        head = (b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                b"Content-Length: 5000\r\n\r\n")
        elapsed, answer, closed = trickle(node, head, [b"grant_type=pass"] + [b"w"] * 40, every=0.25)
        assert parse(answer)[0] == 408 and closed, answer[:300]
        assert GRACE < elapsed < GRACE + 1 + 3  # the form's 16 KiB at most, at 16 KiB/s
    finally:
        node.stop()
