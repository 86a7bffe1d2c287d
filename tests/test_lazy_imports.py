"""A node loads an origin kind's library only when its config names that kind (issue 18: every
process of a node held boto3 and botocore, ~10 MiB each, whatever its origin).

The nodes here run with PYTHONPROFILEIMPORTTIME=1: every import in the parent and in each forked
worker, at start-up and while serving, made by an import statement writes one "import time:"
line to the node's log, so the log says what any of its processes loaded. No debug endpoint is
needed.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from ocicache.origin import factory

from .nodeproc import NodeProcess
from .ocisync import OCI_MANIFEST, push_image, request
from .s3.conftest import drop_bucket

PACKAGE = Path(__file__).resolve().parents[1] / "ocicache"
S3_LIBRARIES = ("boto3", "botocore", "s3transfer")
NEVER_ON_A_NODE = ("selenium", "pytest", "hypothesis", "moto", "yaml")
IMPORT_LOG = {"PYTHONPROFILEIMPORTTIME": "1"}


def imported(node: NodeProcess) -> set[str]:
    """Every module any process of `node` imported (the node must have stopped: its log is whole)."""
    names = set()
    for line in node.log_path.read_text().splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":  # the header line
                names.add(name)
    return names


def top_level(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def serve_a_little(url: str) -> None:
    """A push, pulls by tag and digest, listings and /readyz, spread over the node's workers."""
    digest = push_image(url, "lazy/app", "v1", b"layer bytes " * 100)
    for _ in range(10):
        status, _, _ = request(url, "GET", "/v2/lazy/app/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert status == 200
        assert request(url, "GET", f"/v2/lazy/app/manifests/{digest}", headers={"Accept": OCI_MANIFEST})[0] == 200
        assert request(url, "GET", "/v2/lazy/app/tags/list")[0] == 200
        assert request(url, "GET", "/readyz")[0] == 200


def test_directory_and_registry_origins_never_load_boto3(tmp_path):
    """A directory-origin node and an edge in front of it (a registry origin), two workers each,
    serve pushes and pulls without any of their processes importing boto3, botocore or a test tool."""
    origin = NodeProcess(tmp_path / "origin", "--workers", "2", env=IMPORT_LOG)
    origin.start()
    try:
        edge = NodeProcess(tmp_path / "edge", "--workers", "2", "--origin", origin.url, env=IMPORT_LOG)
        edge.start()
        try:
            serve_a_little(origin.url)
            serve_a_little(edge.url)
        finally:
            edge.stop()
    finally:
        origin.stop()
    for node, kind in ((origin, "ocicache.origin.fs"), (edge, "ocicache.origin.distribution")):
        names = imported(node)
        assert {kind, "aiohttp.web"} <= names, "the import log is not there: the check would see nothing"
        assert not top_level(names) & set(S3_LIBRARIES + NEVER_ON_A_NODE), sorted(
            n for n in names if n.split(".")[0] in S3_LIBRARIES + NEVER_ON_A_NODE)
        assert not {"ocicache.origin.s3client", "ocicache.origin.s3uploads"} & names


def test_an_s3_origin_loads_its_module_by_name_and_serves(tmp_path, s3server):
    """The same node with an s3:// origin imports the S3 kind when it builds the origin, and
    pushes and pulls through the bucket."""
    bucket = s3server.new_bucket()
    node = NodeProcess(tmp_path / "s3node", "--workers", "2", "--origin", f"s3://{bucket}/lazy",
                       env={**s3server.env, "OCICACHE_S3_PART_BYTES": str(5 << 20), **IMPORT_LOG})
    node.start()
    try:
        serve_a_little(node.url)
    finally:
        node.stop()
        drop_bucket(s3server.client(), bucket)
    # origin/s3.py itself has no line: -X importtime logs what import statements load, not
    # importlib.import_module's own module; what s3.py imports has one
    assert {"ocicache.origin.s3client", "boto3", "botocore"} <= imported(node)


def test_importing_the_factory_loads_no_kind_named_for_loading_by_name():
    """Importing the CLI, the app and the factory imports none of LOADED_BY_NAME's modules (nor
    their libraries); each such module is in the origin package, where lint-imports checks it."""
    code = ("import sys, ocicache.commands, ocicache.app, ocicache.origin.factory as f; "
            "print(sorted(m for m in sys.modules if m in f.LOADED_BY_NAME.values() "
            f"or m.split('.')[0] in {S3_LIBRARIES!r}))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert run.stdout.strip() == "[]", run.stdout
    for prefix, module in factory.LOADED_BY_NAME.items():
        assert module.startswith("ocicache.origin."), module
        assert (PACKAGE / "origin" / f"{module.rsplit('.', 1)[1]}.py").is_file(), module
        assert factory.kind_module(prefix).__name__ == module


def test_only_the_factory_imports_by_name():
    """importlib.import_module outside origin/factory.py would hide an import from lint-imports."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("importlib.import_module", "import_module",
                                                                         "__import__"):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert all(place.startswith("origin/factory.py:") for place in found), found
    assert found, "the factory's import by name is not where this test looks"
