"""A private Docker engine (Debian docker.io, dockerd 20.10) for tests: its own data root,
exec root, socket and client config, none of the host's network or storage.

    engine = DockerEngine().start()
    engine.run("push", f"{node.hostport}/team/app:v1")     # stdout; DockerError (with stderr) on failure
    failed = engine.attempt("pull", "...:missing")           # CompletedProcess, for expected failures
    engine.reload_mirrors([mirror.url])                      # daemon.json + SIGHUP, waits for `docker info`
    engine.stop()                                            # by PID; the data root is removed

vfs copies every layer: tests remove their images (`clean_images`) as soon as they are done.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .nodeproc import stop_process

DOCKERD = "/usr/sbin/dockerd"
# The client of the same package: /usr/local/bin/docker (first on PATH here) is another version.
DOCKER = "/usr/bin/docker"


def require_dockerd() -> None:
    """Skip (or, in CI, fail) when the Docker engine of Debian's docker.io is not installed."""
    missing = [p for p in (DOCKERD, DOCKER) if not os.access(p, os.X_OK)]
    if missing:
        what = f"{', '.join(missing)} not found (Debian package docker.io; `make test` installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(what)
        pytest.skip(what)


class DockerError(RuntimeError):
    """A docker command failed; the message holds the command and what docker printed."""

    def __init__(self, args: tuple[str, ...], result: subprocess.CompletedProcess) -> None:
        self.result = result
        super().__init__(f"docker {' '.join(args)} exited {result.returncode}:\n{result.stderr.strip()[-4000:]}")


class DockerEngine:
    def __init__(self, base: Path | None = None, prefix: tuple[str, ...] = (), daemon: dict | None = None) -> None:
        """`prefix`: runs dockerd under it (`ip netns exec NS`: in a network namespace);
        `daemon`: its daemon.json (e.g. insecure-registries)."""
        self.prefix = tuple(prefix)
        self.daemon = dict(daemon or {})
        # Short: the socket path must stay under the 108-byte limit of unix sockets.
        self.dir = Path(base) if base is not None else Path(tempfile.mkdtemp(prefix="dk", dir="/tmp"))
        if len(str(self.dir / "exec" / "containerd" / "containerd.sock.ttrpc")) > 107:
            raise ValueError(f"{self.dir} is too long a folder for dockerd: its containerd's socket path "
                             "would pass the 108-byte limit of unix socket addresses; leave base unset")
        self.socket = self.dir / "docker.sock"
        self.config_file = self.dir / "daemon.json"
        self.log_path = self.dir / "dockerd.log"
        self.proc: subprocess.Popen | None = None
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.socket}",
                    "DOCKER_CONFIG": str(self.dir / "client"),      # logins stay out of ~/.docker
                    "DOCKER_CLI_EXPERIMENTAL": "enabled",           # `docker manifest` on 20.10
                    "DOCKER_BUILDKIT": "0"}                         # the classic builder (no BuildKit)

    def start(self, timeout: float = 60.0, attempts: int = 2) -> "DockerEngine":
        """Start dockerd; on a busy machine its own containerd can miss dockerd's start-up
        deadline ("timeout waiting for containerd to start"): then once more, from scratch."""
        for _ in range(attempts - 1):
            try:
                return self._start_once(timeout)
            except RuntimeError:
                pass  # _start_once stopped it and removed its folder; a second failure raises with its log
        return self._start_once(timeout)

    def _start_once(self, timeout: float) -> "DockerEngine":
        require_dockerd()
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "client").mkdir(exist_ok=True)
        self.config_file.write_text(json.dumps(self.daemon) + "\n")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [*self.prefix, DOCKERD, "--iptables=false", "--ip6tables=false", "--bridge=none", "--ip-forward=false",
             "--ip-masq=false", "--storage-driver=vfs", "--data-root", str(self.dir / "root"),
             "--exec-root", str(self.dir / "exec"), "--pidfile", str(self.dir / "dockerd.pid"),
             "-H", f"unix://{self.socket}", "--config-file", str(self.config_file)],
            stdout=log, stderr=subprocess.STDOUT, env={k: v for k, v in os.environ.items()
                                                       if not k.startswith("DOCKER_")})
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if self.socket.exists() and self._answers(min(10.0, max(deadline - time.monotonic(), 1.0))):
                return self
            time.sleep(0.1)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        self.stop()
        raise RuntimeError(f"dockerd did not become ready within {timeout:.0f} s; its log:\n{tail}")

    def _answers(self, timeout: float) -> bool:
        """Whether the engine answers `docker version` within `timeout` (a busy machine can
        leave the first probe hanging while dockerd still starts: that is "not yet")."""
        try:
            return self.attempt("version", "--format", "{{.Server.Version}}", timeout=timeout).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def _children(self) -> list[int]:
        """PIDs dockerd started (its containerd), to stop them if dockerd itself has to be killed."""
        if self.proc is None:
            return []
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(pid) for pid in path.read_text().split()]
        except OSError:
            return []

    def stop(self) -> None:
        """SIGTERM dockerd (it stops its own containerd), SIGKILL after 30 s; then remove the data."""
        children = self._children()
        stop_process(self.proc, grace=30.0)
        for pid in children:            # only left when dockerd had to be killed
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---- the client ----
    def attempt(self, *args: str, input: str | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
        """Run `docker <args>` against this engine; the result whatever the exit code."""
        return subprocess.run([DOCKER, *args], input=input, capture_output=True, text=True, env=self.env,
                              timeout=timeout)

    def run(self, *args: str, input: str | None = None, timeout: float = 900) -> str:
        """Run `docker <args>`; its stdout, or DockerError with its stderr when it fails."""
        result = self.attempt(*args, input=input, timeout=timeout)
        if result.returncode != 0:
            raise DockerError(args, result)
        return result.stdout

    def inspect(self, ref: str) -> dict:
        return json.loads(self.run("image", "inspect", ref))[0]

    def repo_digests(self, ref: str) -> list[str]:
        return self.inspect(ref)["RepoDigests"]

    def images(self) -> list[str]:
        return self.run("images", "-aq", "--no-trunc").split()

    def clean_images(self) -> None:
        """Remove every image (no containers run here, so `prune -a` takes all of them)."""
        self.run("image", "prune", "-af")
        left = self.images()
        if left:
            self.run("rmi", "-f", *left)

    def login(self, hostport: str, user: str, password: str) -> str:
        return self.run("login", "-u", user, "--password-stdin", hostport, input=password)

    def forget_logins(self) -> None:
        """Drop every stored login (the client's config.json in this engine's own DOCKER_CONFIG)."""
        (self.dir / "client" / "config.json").unlink(missing_ok=True)

    # ---- the daemon's configuration ----
    def mirrors(self) -> list[str]:
        out = self.run("info", "--format", "{{json .RegistryConfig.Mirrors}}")
        return [url.rstrip("/") for url in json.loads(out) or []]

    def reload_mirrors(self, urls: list[str], timeout: float = 20.0) -> None:
        """Set `registry-mirrors` in daemon.json, SIGHUP dockerd, wait until `docker info` shows them."""
        self.config_file.write_text(json.dumps({"registry-mirrors": list(urls)}) + "\n")
        self.proc.send_signal(signal.SIGHUP)
        want = [url.rstrip("/") for url in urls]
        deadline = time.monotonic() + timeout
        while (got := self.mirrors()) != want:
            if time.monotonic() > deadline:
                raise RuntimeError(f"dockerd still lists mirrors {got} {timeout:.0f} s after SIGHUP "
                                   f"(wanted {want}); its log: {self.log_path}")
            time.sleep(0.1)
