"""podman and buildah (root, vfs storage) with their own storage in a temp dir, against any
registry over plain http. Both share one `Storage`: an image buildah commits, podman sees."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from .tools import DEFAULT_TIMEOUT, require, require_root, run


class Storage:
    """A private containers-storage (`--root`, vfs) under `base`; its `--runroot` is a short
    folder in /tmp (podman refuses a runroot longer than 50 characters)."""

    def __init__(self, base: Path) -> None:
        self.base = Path(base)
        self.runroot = Path(tempfile.mkdtemp(prefix="cs-run-", dir="/tmp"))
        self.args = ["--root", str(self.base / "root"), "--runroot", str(self.runroot), "--storage-driver", "vfs"]

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)
        shutil.rmtree(self.runroot, ignore_errors=True)


class Podman:
    def __init__(self, storage: Storage, timeout: float = DEFAULT_TIMEOUT) -> None:
        require("podman")
        require_root("podman (vfs storage in a temp dir)")
        self.storage, self.timeout = storage, timeout
        self.base = ["podman", *storage.args, "--tmpdir", str(storage.base / "libpod-tmp"),
                     "--events-backend", "none", "--cgroup-manager", "cgroupfs"]

    def __call__(self, *args: str) -> str:
        return run([*self.base, *args], self.timeout)

    def pull(self, ref: str, arch: str | None = None) -> str:
        """`podman pull --tls-verify=false [--arch A] host/repo:tag`; the image ID."""
        out = self("pull", "-q", "--tls-verify=false", *(["--arch", arch] if arch else []), ref)
        return out.strip().splitlines()[-1]

    def push(self, image: str, dest: str) -> None:
        """Push a local image to `dest` (host/repo:tag)."""
        self("push", "--tls-verify=false", image, f"docker://{dest}")

    def inspect(self, ref: str, fmt: str) -> str:
        return self("image", "inspect", "--format", fmt, ref).strip()

    def rmi(self, *refs: str) -> None:
        self("rmi", "--force", *refs)


class Buildah:
    def __init__(self, storage: Storage, timeout: float = DEFAULT_TIMEOUT) -> None:
        require("buildah")
        require_root("buildah (vfs storage in a temp dir)")
        self.timeout = timeout
        self.base = ["buildah", *storage.args]

    def __call__(self, *args: str) -> str:
        return run([*self.base, *args], self.timeout)

    def from_scratch(self, name: str) -> str:
        return self("from", "--name", name, "scratch").strip()

    def copy(self, container: str, src: Path, dest: str) -> None:
        self("copy", container, str(src), dest)

    def label(self, container: str, key: str, value: str) -> None:
        self("config", "--label", f"{key}={value}", container)

    def commit(self, container: str, image: str) -> str:
        """Commit the working container as `image` (e.g. localhost/hello:v1); the image ID."""
        return self("commit", "-q", container, image).strip().splitlines()[-1]

    def push(self, image: str, dest: str) -> None:
        self("push", "--tls-verify=false", image, f"docker://{dest}")

    def pull(self, ref: str) -> str:
        return self("pull", "-q", "--tls-verify=false", ref).strip().splitlines()[-1]

    def digest(self, ref: str) -> str:
        """The manifest digest buildah recorded for a pulled image."""
        return self("images", "--format", "{{.Digest}}", ref).strip().splitlines()[0]

    def rm(self, container: str) -> None:
        self("rm", container)
