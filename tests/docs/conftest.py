"""Shared pieces of the document walks: tools that must exist, pulls that check every byte."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

import pytest

from ..ocisync import OCI_MANIFEST, request


def require(*tools: str) -> None:
    """A document step needs these programs: missing ones fail in CI and skip elsewhere."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        message = f"{', '.join(missing)} missing: `make system-deps` installs the Debian packages"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def pull(url: str, repo: str, tag: str, headers: dict | None = None, query: str = "") -> list[str]:
    """Pull repo:tag through `url` and check every blob's digest; returns the blob digests.
    `query` (`?ns=docker.io`) goes on every request, as containerd sends it."""
    status, _, body = request(url, "GET", f"/v2/{repo}/manifests/{tag}{query}",
                              headers={"Accept": OCI_MANIFEST, **(headers or {})})
    assert status == 200, body
    doc = json.loads(body)
    digests = [d["digest"] for d in [doc["config"], *doc["layers"]]]
    for digest in digests:
        status, _, data = request(url, "GET", f"/v2/{repo}/blobs/{digest}{query}", headers=headers)
        assert status == 200 and "sha256:" + hashlib.sha256(data).hexdigest() == digest, (status, digest)
    return digests


def access_lines(read_log, routes=("blob", "manifest"), at_least: int = 0, timeout: float = 10) -> list[dict]:
    """The node's access-log lines of these routes, once at least `at_least` are written (a
    line is written just after its answer)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [json.loads(line) for line in read_log().splitlines() if '"ocicache.access"' in line]
        lines = [x for x in lines if x["route"] in routes]
        if len(lines) >= at_least or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)
