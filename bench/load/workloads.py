"""The load generators: wrk (throughput, p99), curl (Range, cold misses), an OCI push client,
and the machine's own limits. Every loop here is bounded in count and in time."""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import statistics
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

WRK_DONE = Path(__file__).with_name("wrk_done.lua")
MANIFEST_ACCEPT = ("application/vnd.oci.image.manifest.v1+json, "
                   "application/vnd.docker.distribution.manifest.v2+json")


def wrk(url: str, connections: int, duration: float, headers: dict[str, str] | None = None) -> dict:
    """One wrk run; returns bytes/s, req/s, p50/p99 latency (ms) and error counts."""
    cmd = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{duration:g}s", "--timeout", "60s",
           "-s", str(WRK_DONE)]
    for key, value in (headers or {}).items():
        cmd += ["-H", f"{key}: {value}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=duration + 90)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary for {url}: {out.stdout[-500:]} {out.stderr[-500:]}")
    s = json.loads(line[len("WRKJSON "):])
    seconds = s["duration_us"] / 1e6
    errors = s["status_errors"] + s["connect_errors"] + s["read_errors"] + s["write_errors"] + s["timeouts"]
    return {"MB/s": s["bytes"] / seconds / 1e6, "req/s": s["requests"] / seconds,
            "p50 ms": s["p50_us"] / 1000, "p99 ms": s["p99_us"] / 1000, "errors": errors,
            "requests": s["requests"]}


def curl_timings(url: str, headers: dict[str, str] | None = None) -> tuple[int, float, float, int]:
    """(status, time to first byte s, total s, bytes) of one GET."""
    cmd = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_starttransfer} %{time_total} "
           "%{size_download}", "--max-time", "120"]
    for key, value in (headers or {}).items():
        cmd += ["-H", f"{key}: {value}"]
    status, ttfb, total, size = subprocess.run(cmd + [url], capture_output=True, text=True,
                                               check=True, timeout=150).stdout.split()
    return int(status), float(ttfb), float(total), int(size)


def range_latency(url: str, offset: int, length: int, rounds: int) -> dict:
    """Median/min/max latency (ms) of `rounds` sequential GETs of one Range; all must be 206."""
    times = []
    for _ in range(rounds):
        status, _, total, size = curl_timings(url, {"Range": f"bytes={offset}-{offset + length - 1}"})
        if status != 206 or size != length:
            raise RuntimeError(f"Range GET {url} gave {status} with {size} bytes, expected 206 and {length}")
        times.append(total * 1000)
    return {"ms": statistics.median(times), "min ms": min(times), "max ms": max(times)}


def concurrent_gets(url: str, clients: int, size: int) -> dict:
    """`clients` simultaneous curl GETs of one blob: median first byte, wall time until all finished."""
    cmd = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_starttransfer} %{time_total} "
           "%{size_download}", "--max-time", "300", url]
    start = time.monotonic()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(clients)]
    outs = [p.communicate(timeout=330)[0].split() for p in procs]
    wall = time.monotonic() - start
    for out in outs:
        if int(out[0]) != 200 or int(out[3]) != size:
            raise RuntimeError(f"cold GET {url} gave {out[0]} with {out[3]} bytes, expected 200 and {size}")
    return {"ttfb ms": statistics.median(float(o[1]) for o in outs) * 1000, "total s": wall}


def tls_negotiated(url: str) -> str:
    """"TLSv1.3 TLS_AES_256_GCM_SHA384": what a client with OpenSSL's defaults (as wrk's) gets from
    an HTTPS server (the benchmark's self-signed certificate is not checked)."""
    parts = urlsplit(url)
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as raw, ctx.wrap_socket(raw) as conn:
        return f"{conn.version()} {conn.cipher()[0]}"


# ---- pushing through the OCI API (spec: "Pushing blobs") ----
class Pusher:
    """A keep-alive client that pushes blobs and manifests to one registry."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url
        parts = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)

    def _request(self, method: str, url: str, body=None, headers: dict[str, str] | None = None,
                 expect: int = 202) -> http.client.HTTPResponse:
        path = urlsplit(urljoin(self.base + "/", url))
        target = path.path + (f"?{path.query}" if path.query else "")
        self.conn.request(method, target, body=body, headers=headers or {})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != expect:
            raise RuntimeError(f"{method} {target} -> {resp.status} (expected {expect}): {data[:300]!r}")
        return resp

    @staticmethod
    def _with_digest(location: str, digest: str) -> str:
        return location + ("&" if "?" in location else "?") + f"digest={digest}"

    def push_blob(self, repo: str, data, digest: str, chunk: int | None = None) -> float:
        """Push `data` monolithically (POST, PUT with the body) or in `chunk`-byte PATCHes;
        seconds from the POST to the 201."""
        view = memoryview(data)
        start = time.monotonic()
        location = self._request("POST", f"/v2/{repo}/blobs/uploads/", b"",
                                 {"Content-Length": "0"}).getheader("Location")
        if chunk is None:
            self._request("PUT", self._with_digest(location, digest), view,
                          {"Content-Type": "application/octet-stream", "Content-Length": str(len(view))},
                          expect=201)
        else:
            for offset in range(0, len(view), chunk):
                piece = view[offset:offset + chunk]
                location = self._request("PATCH", location, piece, {
                    "Content-Type": "application/octet-stream", "Content-Length": str(len(piece)),
                    "Content-Range": f"{offset}-{offset + len(piece) - 1}"}).getheader("Location")
            self._request("PUT", self._with_digest(location, digest), b"", {"Content-Length": "0"},
                          expect=201)
        return time.monotonic() - start

    def push_manifest(self, repo: str, reference: str, manifest: bytes, media_type: str) -> None:
        self._request("PUT", f"/v2/{repo}/manifests/{reference}", manifest,
                      {"Content-Type": media_type, "Content-Length": str(len(manifest))}, expect=201)

    def close(self) -> None:
        self.conn.close()


def sha256_digest(data) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---- the machine's limits ----
def sha256_mbps(size: int = 64 << 20, rounds: int = 3) -> float:
    data = bytes(size)
    best = min(_timed(lambda: hashlib.sha256(data).digest()) for _ in range(rounds))
    return size / best / 1e6


def loopback_copy_mbps(total: int = 2 << 30, chunk: int = 1 << 20) -> float:
    """One TCP connection over loopback, send() in one thread and recv_into() in another."""
    listener = socket.create_server(("127.0.0.1", 0))
    received = [0]

    def sink() -> None:
        conn, _ = listener.accept()
        buf = bytearray(chunk)
        with conn:
            while received[0] < total:
                n = conn.recv_into(buf)
                if n == 0:
                    break
                received[0] += n

    thread = threading.Thread(target=sink)
    thread.start()
    payload = memoryview(bytes(chunk))
    with socket.create_connection(listener.getsockname()) as client:
        start = time.monotonic()
        for _ in range(total // chunk):
            client.sendall(payload)
        thread.join(60)
        elapsed = time.monotonic() - start
    listener.close()
    return received[0] / elapsed / 1e6


def durable_write_mbps(directory: Path, size: int) -> float:
    """This disk's durable-write rate: `dd conv=fsync` of `size` bytes (zeros, 1 MiB blocks) into
    `directory`, the seconds dd reports (write and fsync), the file removed after."""
    target = Path(directory) / f"dd-{os.getpid()}.data"
    try:
        out = subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={size >> 20}", "conv=fsync"],
                             capture_output=True, text=True, check=True).stderr
    finally:
        target.unlink(missing_ok=True)
    match = re.search(r"copied, ([0-9.]+) s", out)
    if match is None:
        raise RuntimeError(f"dd printed no time: {out.strip()[:200]}")
    return size / float(match.group(1)) / 1e6


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
