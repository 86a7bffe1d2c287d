"""A node loads an origin kind's library only when its config names that kind (issue 18: every
process of a node held boto3 and botocore, ~10 MiB each, whatever its origin), and PyJWT with
cryptography only when it holds a token key (another ~10 MiB each, through auth/tokens.py).

The nodes here run with PYTHONPROFILEIMPORTTIME=1: every import in the parent and in each forked
worker, at start-up and while serving, made by an import statement writes one "import time:"
line to the node's log, so the log says what any of its processes loaded. No debug endpoint is
needed.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from ocicache.auth import tokenservice
from ocicache.origin import factory

from .nodeproc import NodeProcess
from .ocisync import OCI_MANIFEST, push_image, request
from .s3.conftest import drop_bucket

PACKAGE = Path(__file__).resolve().parents[1] / "ocicache"
S3_LIBRARIES = ("boto3", "botocore", "s3transfer")
TOKEN_LIBRARIES = ("jwt", "cryptography")
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
    without [auth], serve pushes and pulls without any of their processes importing boto3,
    botocore, PyJWT, cryptography or a test tool."""
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
        unwanted = S3_LIBRARIES + TOKEN_LIBRARIES + NEVER_ON_A_NODE
        assert not top_level(names) & set(unwanted), sorted(n for n in names if n.split(".")[0] in unwanted)
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


def test_a_node_with_a_token_key_loads_the_token_libraries_and_issues_tokens(tmp_path):
    """With `--token-key` the node imports PyJWT and cryptography (its config check builds the
    token service in the parent, before the fork) and its workers issue tokens a client can use."""
    key = tmp_path / "token.pem"
    tokenservice.keygen(key)
    node = NodeProcess(tmp_path / "tokens", "--workers", "2", "--token-key", str(key), env=IMPORT_LOG)
    node.start()
    try:
        status, _, body = request(node.url, "GET", "/token?service=ocicache&scope=repository:lazy/app:pull")
        assert status == 200, body
        token = json.loads(body)["token"]
        status, _, _ = request(node.url, "GET", "/v2/", headers={"Authorization": f"Bearer {token}"})
        assert status == 200
    finally:
        node.stop()
    assert {"jwt", "cryptography"} <= imported(node)  # tokens.py itself: no line (see below)


def test_importing_the_cli_and_the_app_loads_no_token_library(tmp_path):
    """Importing the CLI and the app imports neither auth/tokens.py nor PyJWT nor cryptography;
    building a token service through auth/tokenservice.py imports them, and its errors are the
    ones auth/tokens.py raises."""
    code = ("import sys, ocicache.commands, ocicache.app; "
            "from ocicache.auth import tokenservice as t; "
            f"print(sorted(m for m in sys.modules if m == t.SIGNING_MODULE or m.split('.')[0] in {TOKEN_LIBRARIES!r})); "
            f"t.keygen(sys.argv[1]); s = t.open_service(sys.argv[1], issuer='i', service='s', ttl=60); "
            "import ocicache.auth.tokens as k; "
            "print(type(s) is k.TokenService, k.TokenError is t.TokenError, k.KeyFileError is t.KeyFileError, "
            "'jwt' in sys.modules)")
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "k.pem")], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["[]", "True True True True"], run.stdout


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


BY_NAME = ("origin/factory.py:", "auth/tokenservice.py:", "service/supervisor.py:")
"""The only modules that import by name (each loads a module of its own package)."""


def test_only_the_factory_imports_by_name():
    """importlib.import_module outside origin/factory.py, auth/tokenservice.py and
    service/supervisor.py would hide an import from lint-imports."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("importlib.import_module", "import_module",
                                                                         "__import__"):
                found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert all(place.startswith(BY_NAME) for place in found), found
    assert all(any(p.startswith(place) for p in found) for place in BY_NAME), \
        f"an import by name is not where this test looks: {found}"
    assert tokenservice.SIGNING_MODULE == "ocicache.auth.tokens"
