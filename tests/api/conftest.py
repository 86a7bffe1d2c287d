"""Every API test runs against four targets (`target`):

- `fs`: the in-process app (tests/conftest.py `client`) on the local-directory origin;
- `s3`: the in-process app on S3 (the suite's S3 server, `s3server`), behind the edge cache and
  with write-through uploads;
- `workers2`: a real `python -m ocicache serve --workers 2` process on the local-directory origin,
  talked to over a new connection per request, each reaching the other worker than the request
  before it (tests/api/nodeclient.py; issue 14: read-your-writes across workers);
- `edge`: a real node of `--workers 2` whose origin is another real node (directory origin), so
  every push is written through to that origin (issue 15), over connections alternating between
  the edge's workers as for `workers2`;
- `edge-s3`: the same edge in front of a node whose origin is a bucket on the suite's S3 server.

Tests that push content take `algo` too: on `fs` and `s3` each runs with sha256 and sha512
digests; on the process targets with sha256 only (the sha512 paths are the same code there and
the suite's time is short). The process nodes are started once for tests/api (package scope) and
each test works in a repository namespace of its own (nodeclient.py); a test marked `own_node`
(one that lists the whole catalog) gets nodes of its own instead, and one marked `no_namespace`
(its names are its own, and too long for a prefix) uses the shared nodes without a namespace. A
test marked `in_process(reason)` needs the in-process app or its store: its process-target
parametrizations are skipped with that reason. A process test's `tmp_path/data` links to its
node's data dir (where an `fs` test finds the app's). After each test on a process target the
sessions it left open are cancelled; then no upload bytes may remain staged on any of its nodes
(what the in-process tests see in `<data_dir>/uploads` must hold on the edge and at its origin
too) and nothing may have been written beside their data dirs."""
from __future__ import annotations

import itertools

import pytest

from ocicache import config
from ocicache.app import make_app

from ..conftest import s3_overrides
from ..edge.origins import copies_with_bytes
from ..nodeproc import NodeProcess
from .nodeclient import NodeClient

PROCESS_TARGETS = ("workers2", "edge", "edge-s3")
_namespaces = (f"t{n}" for n in itertools.count(1))


def pytest_configure(config):
    config.addinivalue_line("markers", "in_process(reason): an API test that needs the in-process app or its "
                                       "store; skipped, with the reason, on the process targets")
    config.addinivalue_line("markers", "own_node: an API test that needs nodes of its own on the process "
                                       "targets (it sees every repository of the node)")
    config.addinivalue_line("markers", "no_namespace: an API test whose repository names no other test uses; "
                                       "on the process targets it sends them without a namespace")


def _params(metafunc):
    """(target, algo) pairs, or targets alone; process targets skipped for in_process tests."""
    marker = metafunc.definition.get_closest_marker("in_process")
    takes_algo = "algo" in metafunc.fixturenames
    params = []
    for target in ("fs", "s3", *PROCESS_TARGETS):
        marks = [pytest.mark.rgw] if target in ("s3", "edge-s3") else []  # Ceph RGW
        if target in PROCESS_TARGETS and marker:
            marks.append(pytest.mark.skip(reason=f"in-process only: {marker.args[0]}"))
        algos = ("sha256",) if target in PROCESS_TARGETS else ("sha256", "sha512")
        for algo in algos if takes_algo else (None,):
            values = (target, algo) if takes_algo else (target,)
            params.append(pytest.param(*values, marks=marks, id=f"{target}-{algo}" if algo else target))
    return params


def pytest_generate_tests(metafunc):
    if "target" in metafunc.fixturenames:
        names = ["target", "algo"] if "algo" in metafunc.fixturenames else ["target"]
        metafunc.parametrize(names if len(names) > 1 else names[0], _params(metafunc))


@pytest.fixture
def target(request):
    """Which target a test runs against (parametrized by pytest_generate_tests above)."""
    return request.param


@pytest.fixture
def algo(request):
    """The digest algorithm content is pushed under (tests/api/helpers.py takes it as `algo`)."""
    return request.param


def start_nodes(kind: str, root, s3server=None) -> list[NodeProcess]:
    """The started processes of a process target, the one tests talk to last."""
    if kind == "workers2":
        node = NodeProcess(root / "node", "--workers", "2")
        node.start()
        return [node]
    if kind == "edge-s3":
        origin = NodeProcess(root / "origin", "--origin", f"s3://{s3server.new_bucket()}/api",
                             env={**s3server.env, "OCICACHE_S3_PART_BYTES": str(5 * 1024 * 1024)})
    else:
        origin = NodeProcess(root / "origin")
    origin.start()
    edge = NodeProcess(root / "edge", "--origin", origin.url, "--workers", "2")
    try:
        edge.start()
    except RuntimeError:
        origin.stop()
        raise
    return [origin, edge]


def _shared_nodes(kind: str, tmp_path_factory, s3server=None):
    nodes = start_nodes(kind, tmp_path_factory.mktemp(f"api-{kind}"), s3server)
    yield nodes
    for node in reversed(nodes):
        node.stop()


@pytest.fixture(scope="package")  # stopped once tests/api is done
def workers2_nodes(tmp_path_factory):
    yield from _shared_nodes("workers2", tmp_path_factory)


@pytest.fixture(scope="package")  # stopped once tests/api is done
def edge_nodes(tmp_path_factory):
    yield from _shared_nodes("edge", tmp_path_factory)


@pytest.fixture(scope="package")  # stopped once tests/api is done
def edge_s3_nodes(tmp_path_factory, s3server):
    yield from _shared_nodes("edge-s3", tmp_path_factory, s3server)


@pytest.fixture
def served(request, target, tmp_path, tmp_path_factory):
    """For a process target: (its processes, the namespace of this test or None for own nodes).
    The test's `tmp_path/data` is a link to the data dir of the node it talks to, as `fs` tests
    find the in-process app's data dir there."""
    if request.node.get_closest_marker("own_node") is None:
        nodes, own = request.getfixturevalue(f"{target.replace('-', '_')}_nodes"), False
        namespace = None if request.node.get_closest_marker("no_namespace") else next(_namespaces)
    else:
        s3server = request.getfixturevalue("s3server") if target == "edge-s3" else None
        nodes, namespace, own = start_nodes(target, tmp_path_factory.mktemp(f"own-{target}"), s3server), None, True
    (tmp_path / "data").symlink_to(nodes[-1].data_dir, target_is_directory=True)
    yield nodes, namespace
    if own:
        for node in reversed(nodes):
            node.stop()


@pytest.fixture
def cfg(request, target, tmp_path):
    if target == "fs":
        return config.load(env={}, overrides={"storage": {"data_dir": str(tmp_path / "data")}})
    if target == "s3":
        return config.load(env={}, overrides=s3_overrides(request.getfixturevalue("s3server"), tmp_path / "data"))
    nodes, _ = request.getfixturevalue("served")
    storage = {"data_dir": str(nodes[-1].data_dir)}
    if len(nodes) > 1:
        storage["origin"] = nodes[0].url
    return config.load(env={}, overrides={"storage": storage})  # what the node in front runs with


@pytest.fixture
async def client(request, aiohttp_client, target, cfg):
    """The in-process app for fs and s3; a NodeClient to the node in front for the process targets."""
    if target not in PROCESS_TARGETS:
        yield await aiohttp_client(make_app(cfg))
        return
    nodes, namespace = request.getfixturevalue("served")
    node_client = NodeClient(nodes[-1].url, namespace, alternate=True)  # both targets: 2 workers
    yield node_client
    await node_client.close()  # cancels the upload sessions the test left open
    left = staged(nodes)
    assert not left, f"upload bytes still staged after the test's sessions were finished or cancelled: {left}"
    beside = {p.name for p in nodes[0].data_dir.parent.iterdir()} - {n for node in nodes for n in
                                                                        (node.data_dir.name, node.log_path.name)}
    assert not beside, f"written beside the nodes' data dirs: {sorted(beside)}"


def staged(nodes: list[NodeProcess]) -> list[str]:
    """Upload bytes staged on a process target's nodes: sessions holding bytes (<data>/uploads/;
    not the empty ones an edge keeps open at its origin ahead of POSTs: origin/sessionpool.py)
    and an edge's local copies holding bytes of what it writes through (<data>/cache/partial/
    fwd-*; not the empty copies of those sessions opened ahead)."""
    found = []
    for node in nodes:
        for session in (node.data_dir / "uploads").glob("*"):
            data = session / "data"
            if not data.exists() or data.stat().st_size > 0:
                found += [str(p) for p in session.rglob("*") if p.is_file()]
        found += [str(p) for p in copies_with_bytes(node.data_dir)]
    return found
