"""Running client programs: one command, its output, and an error an operator can act on.

`run([...])` returns stdout; when the command exits non-zero (or hangs past its timeout) it raises
ClientError naming the command and quoting the end of the client's stderr. `require("skopeo")`
skips a test when a client is not installed, and fails it in CI (`CI=true`), where every client
must be there (`make test` installs them).
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess

import pytest

IN_CI = os.environ.get("CI") == "true"
DEFAULT_TIMEOUT = 300.0
INSTALL_HINT = "install it (Debian: apt-get install skopeo podman buildah containerd), or run `make test` as root"


class ClientError(RuntimeError):
    """A client command failed; the message holds the command, exit status and stderr tail."""

    def __init__(self, cmd: list[str], returncode: int | None, stderr: str, stdout: str = "") -> None:
        self.cmd, self.returncode, self.stderr, self.stdout = cmd, returncode, stderr, stdout
        status = "timed out" if returncode is None else f"exited {returncode}"
        tail = "\n".join(line for line in (stderr or stdout).strip().splitlines()[-15:])
        super().__init__(f"{os.path.basename(cmd[0])} {status}: {shlex.join(cmd)}\n{tail or '(no output)'}")


def run(cmd: list[str], timeout: float = DEFAULT_TIMEOUT, env: dict[str, str] | None = None) -> str:
    """Run `cmd`; its stdout (text). Raises ClientError when it fails or times out."""
    return run_bytes(cmd, timeout, env).decode(errors="replace")


def run_bytes(cmd: list[str], timeout: float = DEFAULT_TIMEOUT, env: dict[str, str] | None = None) -> bytes:
    """Run `cmd`; its stdout as bytes, exactly (a raw manifest, say)."""
    cmd = [str(part) for part in cmd]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              env=None if env is None else {**os.environ, **env})
    except subprocess.TimeoutExpired as exc:
        raise ClientError(cmd, None, _text(exc.stderr), _text(exc.stdout)) from None
    if done.returncode != 0:
        raise ClientError(cmd, done.returncode, _text(done.stderr), _text(done.stdout))
    return done.stdout


def _text(data) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def missing(reason: str) -> None:
    """Skip the test (outside CI) or fail it (in CI) because something it needs is absent."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: every client must be installed)", pytrace=False)
    pytest.skip(reason)


def require(*programs: str) -> None:
    """Every program must be on PATH; see `missing` for what happens when one is not."""
    absent = [p for p in programs if shutil.which(p) is None]
    if absent:
        missing(f"{', '.join(absent)} not installed: {INSTALL_HINT}")


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        missing(f"{what} needs root (it uses its own storage in a temp dir, as root)")
