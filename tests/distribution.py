"""CNCF distribution (Debian's `docker-registry`) on loopback as an upstream, for tests.

    reg = Distribution(tmp_path / "a", auth="htpasswd", users={"alice": "pw"}).start()
    reg = Distribution(tmp_path / "b", auth="token", issuer=TokenIssuer(...)).start()
    ... reg.url, reg.hostport ...
    reg.stop()
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .nodeproc import free_port, stop_process


def require_distribution() -> None:
    if shutil.which("docker-registry") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("docker-registry (Debian package) is not installed")
        pytest.skip("docker-registry is not installed")


def write_htpasswd(path: Path, users: dict[str, str]) -> None:
    """bcrypt entries written by the project's own `ocicache htpasswd` command."""
    for user, password in users.items():
        subprocess.run([sys.executable, "-m", "ocicache", "htpasswd", str(path), user, "--rounds", "4"],
                       input=password, text=True, check=True, capture_output=True)


class Distribution:
    def __init__(self, state_dir: Path, auth: str | None = None, users: dict[str, str] | None = None,
                 issuer=None, extra_yaml: str = "") -> None:
        """`extra_yaml`: more top-level configuration, e.g. "catalog: {maxentries: 2}\n"."""
        self.dir = Path(state_dir)
        self.auth, self.users, self.issuer = auth, users or {}, issuer
        self.extra_yaml = extra_yaml
        self.port = 0
        self.proc: subprocess.Popen | None = None

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.hostport}"

    def _auth_yaml(self) -> str:
        if self.auth == "htpasswd":
            write_htpasswd(self.dir / "htpasswd", self.users)
            return f"auth:\n  htpasswd: {{realm: test, path: {self.dir / 'htpasswd'}}}\n"
        if self.auth == "token":
            i = self.issuer
            return (f"auth:\n  token: {{realm: \"{i.url}/token\", service: {i.service}, issuer: {i.name}, "
                    f"rootcertbundle: {i.cert_path}}}\n")
        return ""

    def start(self, port: int = 0) -> "Distribution":
        """Start on `port` (a restart after a kill keeps its address), else on a free one."""
        require_distribution()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        config = self.dir / "registry.yml"
        config.write_text(f"""version: 0.1
log: {{level: warn}}
storage:
  filesystem: {{rootdirectory: {self.dir / 'data'}}}
  delete: {{enabled: true}}
  cache: {{blobdescriptor: inmemory}}
http: {{addr: "{self.hostport}"}}
{self._auth_yaml()}{self.extra_yaml}""")
        log = open(self.dir / "registry.log", "ab")
        self.proc = subprocess.Popen(["docker-registry", "serve", str(config)], stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/v2/", timeout=1).close()
                return self
            except urllib.error.HTTPError as exc:
                if exc.code == 401:
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"docker-registry did not start: {(self.dir / 'registry.log').read_text()[-2000:]}")

    def stop(self) -> None:
        stop_process(self.proc)
