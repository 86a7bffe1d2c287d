"""Every error an operator or a client sees is written for a person: the error paths of the CLI
(warm, gc, cache, token, htpasswd, config check, serve) and of the admin API, each checked for
what it must say (what failed, where, what to do) and for Python internals (tests/ops/human.py:
class names, reprs, tuples, tracebacks, library text)."""
from __future__ import annotations

import hashlib
import json
import os
import time
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ..nodeproc import NodeProcess, free_port
from ..ocisync import push_image, request
from .human import assert_for_people, internals

ROOT = Path(__file__).resolve().parents[2]
ADMIN_SECRET = "s" * 40


def cli(*args: str, env: dict | None = None, stdin: str = "", cwd: Path | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("OCICACHE_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "ocicache", *args], input=stdin, capture_output=True,
                          text=True, timeout=120, env=full_env, cwd=cwd)


def test_the_detector_catches_what_it_should():
    assert internals("Traceback (most recent call last):\n  File \"x.py\", line 3, in <module>")
    assert internals("FAILED: WarmError: ClientConnectorError ... ssl:default [Connect call failed ('127.0.0.1', 5999)]")
    assert internals("tag ('demo/app', 'nosuch') is not known")
    assert internals("the request body is not JSON: Expecting value: line 1 column 1 (char 0)")
    assert internals('{"pinned_at": 1733131200.5}') and internals("unknown keys ['extra']")
    assert internals("<ocicache.config.Config object at 0x7f00aa>") and internals("got b'abc'")
    assert not internals("OCICACHE_CACHE_MAX_BYTES=abc: not a whole number")
    assert not internals("manifest demo/app:v1: the node answered 404 (MANIFEST_UNKNOWN: tag v1 is not in it)")


def _bad_files(tmp: Path) -> dict[str, Path]:
    files = {"acl": "[[auth.acl]]\nrepository = \"a\"\nwho = [\"x\"]\nactions = [\"pull\"]\nextra = 1\n",
             "toml": "[server\n", "section": "[nosuch]\n", "toplevel": "listen = 1\n",
             "key": "[cache]\nmax_byte = 1\n", "type": "[cache]\nmax_bytes = \"lots\"\n",
             "htpasswd": "[auth]\nhtpasswd = \"/nonexistent/htpasswd\"\n",
             "tokenkey": f"[auth]\ntoken_key = \"{tmp / 'notakey.pem'}\"\n",
             "tls": "[tls]\ncert = \"/nonexistent/cert.pem\"\nkey = \"/nonexistent/key.pem\"\n",
             "upstream": "[upstreams]\nregistries = { \"Docker.io\" = \"ftp://x\" }\n",
             "admin": f"[admin]\ntoken_file = \"{tmp / 'short.token'}\"\n",
             "watermarks": "[cache]\nlow_watermark = 0.99\nhigh_watermark = 0.5\n"}
    (tmp / "notakey.pem").write_text("not a key\n")
    (tmp / "short.token").write_text("short\n")
    out = {}
    for name, text in files.items():
        out[name] = tmp / f"{name}.toml"
        out[name].write_text(text)
    return out


CONFIG_CASES = [  # (file or None, env, flags, what the message must name)
    (None, {"OCICACHE_CACHE_MAX_BYTES": "abc"}, [], "OCICACHE_CACHE_MAX_BYTES=abc: not a whole number"),
    (None, {"OCICACHE_CACHE_MAX_BYTES": "0"}, [], "OCICACHE_CACHE_MAX_BYTES=0: [cache] max_bytes"),
    (None, {"OCICACHE_SERVER_SENDFILE": "maybe"}, [], "OCICACHE_SERVER_SENDFILE=maybe: not true or false"),
    (None, {"OCICACHE_UPSTREAMS_REGISTRIES": "nonsense"}, [], "OCICACHE_UPSTREAMS_REGISTRIES=nonsense"),
    (None, {"OCICACHE_LOG_FORMAT": "xml"}, [], "OCICACHE_LOG_FORMAT=xml: [log] format"),
    (None, {}, ["--cache-max-bytes", "0"], "--cache-max-bytes 0: [cache] max_bytes"),
    (None, {}, ["--listen", "nowhere"], "--listen nowhere: [server] listen"),
    (None, {}, ["--origin", "ftp://x"], "--origin ftp://x: [storage] origin"),
    (None, {}, ["--upstream", "docker.io"], "expected NAME=URL"),
    (None, {}, ["--workers", "3", "--listen", "127.0.0.1:0"], "port 0 cannot be shared"),
    ("acl", {}, [], "unknown keys extra"), ("toml", {}, [], "is not valid TOML"),
    ("section", {}, [], "unknown section [nosuch]"), ("toplevel", {}, [], "outside any [section]"),
    ("key", {}, [], "[cache] has no key max_byte"), ("type", {}, [], '[cache] max_bytes = "lots": not a whole number'),
    ("htpasswd", {}, [], "/nonexistent/htpasswd"), ("tokenkey", {}, [], "ocicache token keygen"),
    ("tls", {}, [], "no such file or directory"), ("upstream", {}, [], "is not a registry host name"),
    ("admin", {}, [], "fewer than 16 characters"), ("watermarks", {}, [], "low_watermark"),
    ("missing", {}, [], "does not exist"),
]


@pytest.mark.parametrize("name,env,flags,says", CONFIG_CASES, ids=[f"{c[0] or ''}{list(c[1]) or c[2]}" for c in CONFIG_CASES])
def test_config_check_names_the_source_of_each_error(tmp_path, name, env, flags, says):
    files = _bad_files(tmp_path)
    path = [str(files.get(name, tmp_path / "missing.toml"))] if name else []
    run = cli("config", "check", *path, *flags, env=env)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "INVALID" in run.stderr and says in run.stderr, run.stderr
    assert_for_people(run.stdout + run.stderr, f"config check {name} {env} {flags}")


def test_serve_refuses_what_config_check_refuses(tmp_path):
    env = {"OCICACHE_CACHE_MAX_BYTES": "abc"}
    check = cli("config", "check", env=env)
    serve = cli("serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "d"), env=env)
    assert check.returncode == serve.returncode == 2
    assert "OCICACHE_CACHE_MAX_BYTES=abc: not a whole number" in check.stderr
    assert "OCICACHE_CACHE_MAX_BYTES=abc: not a whole number" in serve.stderr
    assert_for_people(serve.stdout + serve.stderr, "serve with a bad environment")


def test_serve_on_a_port_in_use_says_so(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        run = cli("serve", "--listen", f"127.0.0.1:{port}", "--workers", "1", "--data-dir", str(tmp_path / "d"))
    assert run.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in run.stderr, run.stderr
    assert "address already in use" in run.stderr.lower()
    assert_for_people(run.stderr, "serve on a port in use")


def test_token_and_htpasswd_error_paths(tmp_path):
    key = tmp_path / "token.pem"
    assert cli("token", "keygen", str(key)).returncode == 0
    cases = [
        (cli("token", "keygen", str(key)), "refusing to overwrite"),
        (cli("token", "keygen", "/nonexistent/dir/token.pem"), "folder does not exist"),
        (cli("htpasswd", "/nonexistent/dir/htpasswd", "alice", stdin="pw\n"), "folder does not exist"),
        (cli("htpasswd", str(tmp_path), "alice", stdin="pw\n"), "is a directory"),
        (cli("htpasswd", str(tmp_path / "h"), "a:b", stdin="pw\n"), "no ':'"),
        (cli("htpasswd", str(tmp_path / "h"), "alice", stdin="\n"), "1 to 72 bytes"),
        (cli("htpasswd", str(tmp_path / "h"), "alice", "--rounds", "99", stdin="pw\n"), "--rounds must be"),
    ]
    for run, says in cases:
        assert run.returncode != 0 and says in run.stderr, (run.args, run.stderr)
        assert_for_people(run.stdout + run.stderr, " ".join(run.args[3:]))


def test_gc_and_cache_error_paths(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = tmp_path / "broken"
    node = NodeProcess(broken)
    node.start()
    try:
        push_image(node.url, "gc/app", "v1", os.urandom(1000))
    finally:
        node.stop()
    for link in (broken / "origin").rglob("_manifests/revisions/sha256/*/link"):
        digest = link.read_text().strip()
        data = broken / "origin/docker/registry/v2/blobs/sha256" / digest[7:9] / digest[7:] / "data"
        data.write_bytes(b"{not json")
    cases = [
        (cli("gc", "--data-dir", str(empty)), "not an origin folder"),
        (cli("gc", "--origin", "http://origin.internal:5000"), "is not a local directory"),
        (cli("gc", "--data-dir", str(broken), "--dry-run"), "gc/app"),
        (cli("gc", "--config", str(tmp_path / "none.toml")), "does not exist"),
        (cli("cache", "stats", "--data-dir", str(empty)), "no cache at"),
        (cli("cache", "prune", "--data-dir", str(empty), "--to", "0"), "no cache at"),
        (cli("cache", "verify", "--config", str(tmp_path / "none.toml")), "does not exist"),
        (cli("cache", "stats", "--data-dir", str(empty), env={"OCICACHE_CACHE_MAX_BYTES": "-1"}), "[cache] max_bytes"),
    ]
    for run, says in cases:
        assert run.returncode != 0 and says in run.stderr, (run.args, run.stderr)
        assert_for_people(run.stdout + run.stderr, " ".join(run.args[3:]))
    flags = cli("cache", "stats", "--origin", "http://x")   # a flag cache would ignore is not offered
    assert flags.returncode == 2 and "unrecognized arguments: --origin" in flags.stderr


@pytest.fixture
def edge(tmp_path):
    """An origin node with team/app:v1 and an edge in front of it with the admin API on."""
    secret = tmp_path / "admin.token"
    secret.write_text(ADMIN_SECRET)
    config = tmp_path / "edge.toml"
    config.write_text(f'[admin]\ntoken_file = "{secret}"\n')
    origin = NodeProcess(tmp_path / "origin")
    origin.start()
    node = NodeProcess(tmp_path / "edge", "--origin", origin.url, "--config", str(config))
    try:
        node.start()
        push_image(origin.url, "team/app", "v1", os.urandom(50_000))
        yield node
    finally:
        node.stop()
        origin.stop()


def test_warm_error_paths(edge, tmp_path):
    closed = free_port()
    cases = [
        (cli("warm", "--node", f"http://127.0.0.1:{closed}", "--no-progress", "team/app:v1"), "connection refused"),
        (cli("warm", "--node", "http://nosuchhost.invalid:5000", "--no-progress", "team/app:v1"), "does not resolve"),
        (cli("warm", "--node", edge.url.replace("http:", "https:"), "--no-progress", "team/app:v1"), "TLS to the node"),
        (cli("warm", "--node", "http://[bad", "--no-progress", "team/app:v1"), "is not a URL"),
        (cli("warm", "--node", edge.url, "--no-progress", "team/missing:v1"), "answered 404 (MANIFEST_UNKNOWN"),
        (cli("warm", "--node", edge.url, "--no-progress", "NOT A REF"), "invalid repository name"),
    ]
    for run, says in cases:
        assert run.returncode == 1 and "FAILED" in run.stderr and says in run.stderr, (run.args, run.stderr)
        assert_for_people(run.stdout + run.stderr, " ".join(run.args[3:]))
    ok = cli("warm", "--node", edge.url, "--no-progress", "team/app:v1")
    assert ok.returncode == 0, ok.stderr
    agents = [json.loads(line).get("user_agent") for line in edge.log_path.read_text().splitlines()
              if '"ocicache.access"' in line and '"route":"blob"' in line]
    assert agents and all(a.startswith("ocicache-warm/") for a in agents), agents   # not aiohttp's default


ADMIN_CASES = [  # (method, path, body, headers, status, code, what the message must say)
    ("POST", "/admin/purge", b"{not json", True, 400, "INVALID_REQUEST", '"repository"'),
    ("POST", "/admin/purge", b"[1, 2]", True, 400, "INVALID_REQUEST", "must be a JSON object"),
    ("POST", "/admin/purge", b"{}", True, 400, "INVALID_REQUEST", 'needs "repository"'),
    ("POST", "/admin/purge", b'{"repository": "Bad..Name"}', True, 400, "NAME_INVALID", "Bad..Name"),
    ("POST", "/admin/purge", b'{"repository": "a/b", "digest": "sha256:xyz"}', True, 400, "DIGEST_INVALID", "sha256:xyz"),
    ("POST", "/admin/prefetch", b"\xff\xfe", True, 400, "INVALID_REQUEST", "not JSON"),
    ("POST", "/admin/prefetch", b'{"image": "team/app:v1", "platforms": "linux/amd64"}', True, 400,
     "INVALID_REQUEST", "list of strings"),
    ("POST", "/admin/prefetch", b'{"image": "team/missing:v1"}', True, 404, "MANIFEST_UNKNOWN", "team/missing"),
    ("DELETE", "/admin/pins/team/app", None, True, 404, "NAME_UNKNOWN", "not pinned"),
    ("GET", "/admin/pins", None, False, 401, "UNAUTHORIZED", "Authorization: Bearer"),
]


def test_admin_api_error_paths(edge):
    auth = {"Authorization": f"Bearer {ADMIN_SECRET}"}
    for method, path, body, authorized, status, code, says in ADMIN_CASES:
        got, _, answer = request(edge.url, method, path, body=body, headers=auth if authorized else {})
        text = answer.decode()
        error = json.loads(text)["errors"][0]
        assert got == status and error["code"] == code, (method, path, got, text)
        assert says in error["message"], (method, path, text)
        assert_for_people(text, f"{method} {path}")
    assert request(edge.url, "PUT", "/admin/pins/team/app", headers=auth)[0] == 200
    got, _, answer = request(edge.url, "GET", "/admin/pins", headers=auth)
    pinned_at = json.loads(answer)["pins"][0]["pinned_at"]
    assert got == 200 and isinstance(pinned_at, str) and pinned_at.endswith("Z"), answer   # ISO 8601, not epoch
    assert_for_people(answer.decode(), "GET /admin/pins")


def test_client_visible_errors_through_an_edge(edge):
    """What docker or skopeo print comes from these: an unknown tag (asked twice: the second
    answer comes from the negative tag cache), an unknown blob, an unknown upload session forwarded to the origin."""
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    for _ in range(2):
        got, _, answer = request(edge.url, "GET", "/v2/team/app/manifests/nosuch", headers=accept)
        assert got == 404 and "nosuch" in answer.decode(), answer
        assert_for_people(answer.decode(), "an unknown tag through an edge")
    got, _, answer = request(edge.url, "GET", "/v2/team/app/blobs/sha256:" + "0" * 64)
    assert got == 404 and b"BLOB_UNKNOWN" in answer
    data = b"x" * 100
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    got, _, answer = request(edge.url, "POST", f"/v2/team/app/blobs/uploads/?digest={digest}", body=data,
                             headers={"Content-Type": "application/octet-stream"})
    assert got == 201, (got, answer)   # written through to the origin (issue 15)
    got, _, answer = request(edge.url, "GET", f"/v2/team/app/blobs/uploads/{'0' * 32}")
    assert got == 404 and b"BLOB_UPLOAD_UNKNOWN" in answer, (got, answer)
    for text in (answer.decode(), edge.log_path.read_text()):
        assert_for_people(text, "edge answers and log")


def _store_with_one_blob(data_dir: Path) -> None:
    from ocicache import config
    from ocicache.app import open_store
    from ocicache.reference import Digest

    store = open_store(config.load(env={}, overrides={"storage": {"data_dir": str(data_dir)}}))
    try:
        data = b"evict me" * 1000
        store.put_bytes(Digest.parse("sha256:" + hashlib.sha256(data).hexdigest()), data)
    finally:
        store.close()


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_cli_logs_in_the_nodes_format_and_counts_evictions_in_its_metrics(tmp_path, fmt):
    from prometheus_client import CollectorRegistry, multiprocess

    _store_with_one_blob(tmp_path / "data")
    (tmp_path / "data/metrics").mkdir()              # a running node shares this folder
    config = tmp_path / "node.toml"
    config.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n[log]\nformat = "{fmt}"\n')
    run = cli("cache", "prune", "--config", str(config), "--to", "0")
    assert run.returncode == 0 and "evicted 1 blobs" in run.stdout, run.stderr
    assert "ocicache_cache_evictions_total" in run.stdout and "not in the node's" not in run.stdout, run.stdout
    logged = [line for line in run.stderr.splitlines() if "cache evicted" in line]
    assert len(logged) == 1, run.stderr
    if fmt == "json":
        assert json.loads(logged[0])["logger"] == "ocicache.store", logged
    else:
        assert " INFO ocicache.store[" in logged[0] and not logged[0].startswith("{"), logged
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(tmp_path / "data/metrics"))
    assert registry.get_sample_value("ocicache_cache_evictions_total") == 1.0   # what the node's /metrics sums


def test_access_log_counts_the_bytes_of_error_answers(edge):
    accept = {"Accept": "application/vnd.oci.image.manifest.v1+json"}
    sent = {}
    for path, headers in (("/v2/team/app/manifests/nosuch", accept), ("/admin/pins", {})):
        status, _, body = request(edge.url, "GET", path, headers=headers)
        sent[path] = (status, len(body))
    assert sent["/v2/team/app/manifests/nosuch"][0] == 404 and sent["/admin/pins"][0] == 401
    deadline = time.monotonic() + 10
    while True:
        lines = [json.loads(x) for x in edge.log_path.read_text().splitlines() if '"ocicache.access"' in x]
        logged = {x["route"]: (x["status"], x["bytes"]) for x in lines if x["status"] in (401, 404)}
        if len(logged) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert logged == {"manifest": sent["/v2/team/app/manifests/nosuch"], "admin": sent["/admin/pins"]}, lines
