"""Requests aiohttp's parser refuses are answered by the node (issue 21): OCI error JSON, the
security headers and `Server: ocicache` of every answer, no echo of the input and no software
version; one WARNING line and no traceback in the log; counted by the per-IP rate limit.

Raw bytes over a socket to a real node (`python -m ocicache serve`), its log file read after.
"""
from __future__ import annotations

import json
import socket
import time

import pytest

from ..nodeproc import NodeProcess

MARK = b"EVILMARK"
SECURITY = {"x-content-type-options": "nosniff", "x-frame-options": "DENY",
            "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
            "referrer-policy": "no-referrer", "server": "ocicache"}
CASES = {
    "nul in a header": b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-A: " + MARK + b"\x00b\r\n\r\n",
    "header over 8190 bytes": b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Long: " + MARK + b"a" * 9000 + b"\r\n\r\n",
    "content-length with transfer-encoding": (b"POST /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                              b"Transfer-Encoding: chunked\r\nX-M: " + MARK + b"\r\n\r\n0\r\n\r\n"),
    "bad request line": b"GET /v2/" + MARK + b" HTTP/1.1 extra\r\nHost: x\r\n\r\n",
    "request line too long": b"GET /" + MARK + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    "space in a header name": b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX " + MARK + b": 1\r\n\r\n",
    "bad content-length": b"POST /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length: 1" + MARK + b"\r\n\r\n",
    "too many headers": b"GET /v2/ HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: %s\r\n" % (i, MARK)
                                                                       for i in range(150)) + b"\r\n",
    "tls on the http port": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + MARK + b"\r\n\r\n",
    "bad chunk size": (b"POST /v2/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       b"ZZ" + MARK + b"\r\n\r\n"),
}


def exchange(port: int, raw: bytes, timeout: float = 10.0) -> bytes:
    """Send raw bytes; everything the node answers until it closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def parse(answer: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict((k.strip().lower(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:]))
    return int(lines[0].split()[1]), headers, body


def log_records(node: NodeProcess) -> list[dict]:
    out = []
    for line in node.log_path.read_text().splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    proc = NodeProcess(tmp_path_factory.mktemp("parser") / "node")
    proc.start()
    yield proc
    proc.stop()


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_request_gets_the_nodes_answer(node, case):
    before = len(log_records(node))
    answer = exchange(node.port, CASES[case])
    status, headers, body = parse(answer)
    assert status == 400, answer[:300]
    assert headers["content-type"].startswith("application/json")
    err = json.loads(body)["errors"][0]
    assert err["code"] == "UNSUPPORTED" and "could not parse" in err["message"]
    for name, value in SECURITY.items():
        assert headers.get(name) == value, (name, answer[:400])
    assert b"aiohttp" not in answer.lower() and b"python" not in answer.lower()
    assert MARK not in answer  # nothing of the input comes back
    assert headers.get("connection") == "close"
    time.sleep(0.2)  # the log line is written as the answer goes
    new = log_records(node)[before:]
    refused = [r for r in new if "malformed request" in r["msg"]]
    assert len(refused) == 1 and refused[0]["level"] == "warning", new
    assert MARK.decode() not in refused[0]["msg"]
    assert not any("exception" in r or r["level"] == "error" for r in new), new


def test_no_traceback_in_the_whole_log(node):
    for raw in CASES.values():
        exchange(node.port, raw)
    time.sleep(0.2)
    text = node.log_path.read_text()
    assert "Traceback" not in text and "Error handling request" not in text


def test_a_valid_request_after_garbage_on_another_connection_is_served(node):
    exchange(node.port, CASES["nul in a header"])
    status, headers, _ = parse(exchange(node.port, b"GET /v2/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
    assert status == 200 and headers["server"] == "ocicache"


def test_garbage_counts_against_the_clients_rate_limit(tmp_path):
    node = NodeProcess(tmp_path / "node", env={"OCICACHE_RATELIMIT_ENABLED": "true",
                                               "OCICACHE_RATELIMIT_PER_IP_RATE": "0.01",
                                               "OCICACHE_RATELIMIT_PER_IP_BURST": "12"})
    node.start()  # its readiness probe is one request of the budget
    try:
        statuses = [parse(exchange(node.port, CASES["nul in a header"]))[0] for _ in range(14)]
        assert statuses.count(400) >= 9 and statuses[-1] == 429, statuses
        status, headers, body = parse(exchange(node.port, b"GET /v2/ HTTP/1.1\r\nHost: x\r\n"
                                                          b"Connection: close\r\n\r\n"))
        assert status == 429 and json.loads(body)["errors"][0]["code"] == "TOOMANYREQUESTS"
        assert int(headers["retry-after"]) >= 1
    finally:
        node.stop()
