"""skopeo against any registry over plain http (TLS verification off for docker:// references)."""
from __future__ import annotations

import hashlib
import json

from .tools import DEFAULT_TIMEOUT, require, run, run_bytes


def _remote(ref: str) -> bool:
    return ref.startswith("docker://")


class Skopeo:
    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        require("skopeo")
        self.timeout = timeout

    def _tls(self, ref: str, flag: str = "--tls-verify=false") -> list[str]:
        return [flag] if _remote(ref) else []

    def copy(self, src: str, dest: str, all_images: bool = False, *extra: str) -> None:
        """`skopeo copy [--all] SRC DEST` (e.g. oci:dir:latest -> docker://127.0.0.1:5000/team/app:v1)."""
        cmd = ["skopeo", "copy", *(["--all"] if all_images else []), *self._tls(src, "--src-tls-verify=false"),
               *self._tls(dest, "--dest-tls-verify=false"), *extra, src, dest]
        run(cmd, self.timeout)

    def raw(self, ref: str) -> bytes:
        """The manifest (or index) bytes exactly as the registry or layout serves them."""
        return run_bytes(["skopeo", "inspect", "--raw", *self._tls(ref), ref], self.timeout)

    def digest(self, ref: str) -> str:
        return "sha256:" + hashlib.sha256(self.raw(ref)).hexdigest()

    def inspect(self, ref: str, arch: str | None = None) -> dict:
        """`skopeo inspect` (index resolved to this machine's platform, or to `arch`)."""
        over = ["--override-arch", arch] if arch else []
        return json.loads(run(["skopeo", "inspect", *over, *self._tls(ref), ref], self.timeout))

    def config(self, ref: str) -> dict:
        return json.loads(run(["skopeo", "inspect", "--config", *self._tls(ref), ref], self.timeout))

    def list_tags(self, ref: str) -> list[str]:
        """Tags of the repository `ref` names (docker://host/repo)."""
        return json.loads(run(["skopeo", "list-tags", *self._tls(ref), ref], self.timeout))["Tags"]
