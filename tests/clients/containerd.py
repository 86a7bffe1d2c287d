"""A private containerd (its own root, state and socket in a temp dir; native snapshotter; no
CRI) and `ctr` against any registry: content fetch, image pull with --plain-http, and pulls
through a hosts.toml mirror (`--hosts-dir`; ctr reads no certs.d without that flag).

    daemon = Containerd(tmp_path / "ctrd"); daemon.start()
    daemon.pull("127.0.0.1:5000/team/app:v1", namespace="t", plain_http=True)
    daemon.stop()          # SIGTERM to its PID, then its folder is removed
"""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from ..nodeproc import stop_process
from .tools import ClientError, DEFAULT_TIMEOUT, require, require_root, run

DEAD_FALLBACK = "http://127.0.0.1:9"   # discard port: nothing answers, so no fallback reaches the internet


def write_hosts_toml(hosts_dir: Path, registry: str, mirror_url: str, fallback: str = DEAD_FALLBACK) -> Path:
    """`<hosts_dir>/<registry>/hosts.toml` sending pulls and resolves for `registry` to `mirror_url`;
    the fallback `server` is a dead loopback port."""
    folder = Path(hosts_dir) / registry
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hosts.toml"
    path.write_text(f'# fallback "server": a dead loopback port (never the internet)\n'
                    f'server = "{fallback}"\n\n'
                    f'[host."{mirror_url}"]\n  capabilities = ["pull", "resolve"]\n')
    return path


class Containerd:
    def __init__(self, base: Path, timeout: float = DEFAULT_TIMEOUT) -> None:
        require("containerd", "ctr")
        require_root("a private containerd")
        self.base = Path(base)
        self.address = str(self.base / "containerd.sock")
        self.timeout = timeout
        self.proc: subprocess.Popen | None = None

    @property
    def content_dir(self) -> Path:
        return self.base / "root" / "io.containerd.content.v1.content" / "blobs" / "sha256"

    def start(self, wait: float = 20.0) -> "Containerd":
        self.base.mkdir(parents=True, exist_ok=True)
        config = self.base / "config.toml"
        config.write_text(f'version = 2\nroot = "{self.base / "root"}"\nstate = "{self.base / "state"}"\n'
                          'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
                          f'[grpc]\n  address = "{self.address}"\n'
                          f'[ttrpc]\n  address = "{self.address}.ttrpc"\n'
                          f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{self.base / "opt"}"\n')
        log = open(self.base / "containerd.log", "ab")
        self.proc = subprocess.Popen(["containerd", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                self.ctr("version", timeout=5)
                return self
            except ClientError:
                time.sleep(0.2)
        tail = (self.base / "containerd.log").read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"containerd did not start in {wait:.0f} s (socket {self.address}); its log:\n{tail}")

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None
        shutil.rmtree(self.base, ignore_errors=True)

    def ctr(self, *args: str, namespace: str | None = None, timeout: float | None = None) -> str:
        ns = ["-n", namespace] if namespace else []
        return run(["ctr", "--address", self.address, *ns, *args], timeout or self.timeout)

    def content_fetch(self, ref: str, namespace: str, plain_http: bool = True) -> None:
        self.ctr("content", "fetch", *(["--plain-http"] if plain_http else []), ref, namespace=namespace)

    def pull(self, ref: str, namespace: str, plain_http: bool = False, all_platforms: bool = False,
             hosts_dir: Path | None = None) -> None:
        flags = ["--snapshotter", "native"]
        flags += ["--plain-http"] if plain_http else []
        flags += ["--all-platforms"] if all_platforms else []
        flags += ["--hosts-dir", str(hosts_dir)] if hosts_dir else []
        self.ctr("images", "pull", *flags, ref, namespace=namespace)

    def image_digest(self, ref: str, namespace: str) -> str:
        """The target digest `ctr images ls` shows for `ref` (the manifest or index it pulled)."""
        for line in self.ctr("images", "ls", namespace=namespace).splitlines()[1:]:
            cols = line.split()
            if cols and cols[0] == ref:
                return cols[2]
        raise AssertionError(f"containerd namespace {namespace} has no image {ref} after the pull")

    def content_digests(self, namespace: str) -> set[str]:
        return {line.split()[0] for line in self.ctr("content", "ls", "-q", namespace=namespace).splitlines() if line}
