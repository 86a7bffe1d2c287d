"""A real S3 for tests: a throwaway single-node Ceph cluster (one mon, one memstore OSD, pool size
1, auth none) with the RADOS Gateway (beast) on a loopback port and one S3 user. Ready in ~2 s.

Same interface as tests/motoserver.py `MotoServer`: `.url`, `.env`, `.client()`, `.new_bucket()`,
`.stop()`. The daemons run in their own sessions and die with the test process (PR_SET_PDEATHSIG);
`stop()` signals exactly the PIDs it started and removes the cluster's directory."""
from __future__ import annotations

import ctypes
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from .nodeproc import free_port

GiB = 1024 ** 3
BINARIES = ("monmaptool", "ceph-mon", "ceph-osd", "ceph", "radosgw", "radosgw-admin")


def missing_binaries() -> list[str]:
    """The Ceph programs this fixture needs that are not on PATH (Debian: ceph-mon ceph-osd radosgw)."""
    return [b for b in BINARIES if shutil.which(b) is None]


def require_ceph() -> None:
    """Fail (in CI, CI=true) or skip (elsewhere) a test when the Ceph programs are missing."""
    import pytest

    if missing := missing_binaries():
        why = f"Ceph RGW programs not installed ({', '.join(missing)}): apt-get install ceph-mon ceph-osd radosgw"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def ceph_conf(d: Path, fsid: str, mon_port: int, frontend: str, memstore_bytes: int) -> str:
    """ceph.conf of the throwaway cluster; every path under `d`."""
    return f"""[global]
fsid = {fsid}
mon host = v2:127.0.0.1:{mon_port}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
# auth none only works in crc mode; daemons (radosgw) otherwise insist on 'secure' towards the mon
ms mon client mode = crc secure
run dir = {d}/run
crash dir = {d}/crash
log file = {d}/out/$name.log
admin socket = {d}/run/$name.asok
log to stderr = false
err to stderr = true
mon cluster log file = {d}/out/cluster.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
mon osd full ratio = .99
mon osd nearfull ratio = .98
osd failsafe full ratio = .995
ms async op threads = 2
# propose map changes quickly: the gateway's pools take ~3 osdmap epochs each (11 s -> 0.7 s)
paxos propose interval = 0.05
paxos min wait = 0.01

[mon]
mon data = {d}/mon.a

[osd]
osd data = {d}/osd.0
osd objectstore = memstore
# memstore keeps every object in RAM; this is its capacity (the biggest test pushes 2 GiB)
memstore device bytes = {memstore_bytes}
osd op num shards = 2
osd op num threads per shard = 1
osd min pg log entries = 100
osd max pg log entries = 500
osd memory target = 939524096
osd class load list = *
osd class default list = *

[client]
log file = {d}/out/$name.$pid.log
admin socket =

[client.rgw.a]
log file = {d}/out/rgw.log
admin socket = {d}/run/rgw.asok
rgw data = {d}/rgw
rgw frontends = {frontend}
rgw thread pool size = 32
rgw max concurrent requests = 256
rgw enable usage log = false
rgw enable ops log = false
rgw dynamic resharding = false
# free deleted objects' data (RAM) soon, not after the default 2 hours
rgw gc obj min wait = 5
rgw gc processor period = 10
"""


class RGWServer:
    def __init__(self, memstore_bytes: int = 4 * GiB, timeout: float = 90.0, tls: bool = False) -> None:
        self.memstore_bytes = memstore_bytes
        self.tls = tls
        self.timeout = timeout
        self.port = 0
        self.dir: Path | None = None
        self.procs: dict[str, subprocess.Popen] = {}
        self.access_key = "OCICACHE" + uuid.uuid4().hex[:12].upper()
        self.secret_key = uuid.uuid4().hex + uuid.uuid4().hex[:8]
        self.started_in = 0.0
        self._client = None

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ca_bundle(self) -> str | None:
        """The gateway's self-signed certificate (with tls=True), for AWS_CA_BUNDLE / verify=."""
        return str(self.dir / "tls" / "cert.pem") if self.tls and self.dir else None

    @property
    def env(self) -> dict[str, str]:
        """Environment for a node (or boto3) using this endpoint."""
        env = {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
               "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.url}
        return {**env, "AWS_CA_BUNDLE": self.ca_bundle} if self.tls else env

    # ---- start ----
    def start(self) -> "RGWServer":
        if missing := missing_binaries():
            raise RuntimeError(f"Ceph programs not installed: {', '.join(missing)}; "
                               "install the Debian packages ceph-mon ceph-osd radosgw")
        t0 = time.monotonic()
        self.dir = Path(tempfile.mkdtemp(prefix="ocicache-rgw-"))
        for sub in ("out", "run", "mon.a", "osd.0", "rgw", "crash"):
            (self.dir / sub).mkdir()
        self.port = free_port()
        self._conf = self.dir / "ceph.conf"
        try:
            self._start_cluster()
        except BaseException:
            self.stop()  # the error carries the logs' tails
            raise
        self.started_in = time.monotonic() - t0
        return self

    def _start_cluster(self) -> None:
        d, fsid, mon_port = self.dir, str(uuid.uuid4()), free_port()
        self._conf.write_text(ceph_conf(d, fsid, mon_port, self._frontend(), self.memstore_bytes))
        self._run("monmaptool", "--create", "--fsid", fsid, "--addv", "a", f"[v2:127.0.0.1:{mon_port}]",
                  str(d / "monmap"))
        self._run("ceph-mon", "--mkfs", "-i", "a", "--monmap", str(d / "monmap"), "-c", str(self._conf))
        self._spawn("mon.a", "ceph-mon", "-f", "-i", "a", "-c", str(self._conf))
        osd_uuid = str(uuid.uuid4())
        self._run("ceph-osd", "-i", "0", "--mkfs", "--osd-uuid", osd_uuid, "-c", str(self._conf))
        osd_id = self._run("ceph", "-c", str(self._conf), "--connect-timeout", str(int(self.timeout)),
                           "osd", "new", osd_uuid, "0").strip()
        if osd_id != "0":
            self._fail(f"`ceph osd new` registered OSD id {osd_id!r}, expected 0")
        self._spawn("osd.0", "ceph-osd", "-f", "-i", "0", "-c", str(self._conf))
        # creates the default zone and the gateway's pools; returns once their PGs are active
        self._run("radosgw-admin", "-c", str(self._conf), "user", "create", "--uid=test", "--display-name=test",
                  f"--access-key={self.access_key}", f"--secret-key={self.secret_key}")
        self._spawn("rgw.a", "radosgw", "-f", "-n", "client.rgw.a", "-c", str(self._conf))
        self._wait_answering()

    def _frontend(self) -> str:
        """The beast frontend line: plain HTTP, or HTTPS with a fresh self-signed certificate."""
        if not self.tls:
            return f"beast endpoint=127.0.0.1:{self.port}"
        tls = self.dir / "tls"
        tls.mkdir()
        self._run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                  "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(tls / "key.pem"), "-out", str(tls / "cert.pem"))
        return (f"beast ssl_endpoint=127.0.0.1:{self.port} ssl_certificate={tls / 'cert.pem'} "
                f"ssl_private_key={tls / 'key.pem'}")

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CEPH_")}
        return {**env, "CEPH_CONF": str(self._conf)}

    def _run(self, *cmd: str) -> str:
        """Run a setup command to completion; its stdout, or a failure naming it."""
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=self.timeout, env=self._env(),
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            self._fail(f"`{' '.join(cmd[:3])} ...` did not finish in {self.timeout:.0f} s")
        if done.returncode != 0:
            self._fail(f"`{' '.join(cmd[:3])} ...` exited with {done.returncode}: {done.stderr.strip()[-800:]}")
        return done.stdout

    def _spawn(self, name: str, *cmd: str) -> None:
        """A foreground daemon in its own session, output in out/<name>.stdout."""
        with open(self.dir / "out" / f"{name}.stdout", "wb") as out:
            self.procs[name] = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                                env=self._env(), start_new_session=True,
                                                preexec_fn=_die_with_parent)

    def _wait_answering(self) -> None:
        """Until an anonymous ListBuckets answers from our radosgw (not another server on the port)."""
        context = ssl.create_default_context(cafile=self.ca_bundle) if self.tls else None
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    hint = f" (address in use: port {self.port} was taken)" if (name, proc.returncode) == ("rgw.a", 98) else ""
                    self._fail(f"{name} exited with {proc.returncode} during start{hint}")
            try:
                with urllib.request.urlopen(self.url + "/", timeout=1, context=context) as resp:
                    if b"ListAllMyBucketsResult" in resp.read():
                        return
            except OSError:
                pass
            time.sleep(0.1)
        self._fail(f"radosgw not answering on {self.url} after {self.timeout:.0f} s")

    def _fail(self, what: str) -> None:
        raise RuntimeError(f"Ceph RGW test cluster in {self.dir} did not start: {what}\n{self.log_tail()}")

    def log_tail(self, lines: int = 12) -> str:
        """The last lines of each daemon's log and output (gateway first), for a failure message."""
        if self.dir is None:
            return ""
        order = ("rgw", "osd", "mon")
        paths = [p for p in (self.dir / "out").glob("*") if p.name != "cluster.log"]
        paths.sort(key=lambda p: (next((i for i, o in enumerate(order) if p.name.startswith(o)), 9), p.name))
        parts = []
        for path in paths:
            tail = [line[:300] for line in path.read_text(errors="replace").splitlines()[-lines:]]
            if tail:
                parts.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    # ---- use ----
    def client(self):
        """A boto3 client of this endpoint (made once: creating clients is slow)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            # no aws-chunked uploads over HTTPS: RGW answers them 411 (see ocicache/origin/s3client.py)
            self._client = boto3.client("s3", endpoint_url=self.url, aws_access_key_id=self.access_key,
                                        aws_secret_access_key=self.secret_key, region_name="us-east-1",
                                        verify=self.ca_bundle if self.tls else None,
                                        config=Config(request_checksum_calculation="when_required"))
        return self._client

    def new_bucket(self) -> str:
        name = f"t-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)
        return name

    def rss_bytes(self) -> dict[str, int]:
        """Resident memory of each running daemon (VmRSS)."""
        out = {}
        for name, proc in self.procs.items():
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[name] = int(line.split()[1]) * 1024
        return out

    # ---- stop ----
    def stop(self) -> None:
        """radosgw and the mon: SIGTERM, SIGKILL after 10 s; the memstore OSD: SIGKILL at once (on
        SIGTERM memstore would first write every object it holds to disk). Then remove the dir."""
        for name in ("rgw.a", "osd.0", "mon.a"):
            proc = self.procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGKILL if name == "osd.0" else signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
