"""Property-based tests against the running app (make_app, the `client` fixture): whatever
names, tags, digests, Range and Content-Range headers, query parameters and manifest bodies
a client sends, the node answers below 500, without a traceback, and writes nothing outside
its data directory."""
from __future__ import annotations

import json
import os
import string
from pathlib import Path
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from ..api.helpers import OCI_MANIFEST, image_manifest, push_blob, sha

FUZZ = settings(max_examples=int(os.environ.get("OCICACHE_FUZZ_EXAMPLES", "80")), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
METHODS = st.sampled_from(["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"])
NASTY = st.sampled_from(["..", ".", "%2e%2e", "%2E%2e%2f", "%2f", "", "~", "%00", "a%2fb", "..%5c..", "\\",
                         "%252e%252e", "etc", "passwd", "_catalog", "blobs", "uploads", "manifests", "sha256:..",
                         "sha256:" + "0" * 64, "A", "a" * 300, "a_b", "a__b", "a--b", "-a", "a.", ":"])
PRINTABLE = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
TEXT = st.text(max_size=40)
SEGMENT = st.one_of(NASTY, TEXT.map(lambda t: quote(t, safe="")), PRINTABLE.map(lambda t: quote(t, safe="%.:")))
TAILS = st.sampled_from(["", "/", "/tags/list", "/manifests/", "/blobs/", "/blobs/uploads/", "/referrers/"])
DIGESTS = st.one_of(st.just("sha256:" + "0" * 64), st.text(string.hexdigits, max_size=70).map("sha256:".__add__),
                    PRINTABLE, st.sampled_from(["sha512:" + "a" * 128, "sha256:", ":", "sha256:../../x"]))


def snapshot(tmp_path: Path) -> dict[Path, set[str]]:
    """What lies around the data dir (tmp_path/data) and in the working directory."""
    places = [tmp_path, tmp_path.parent, tmp_path.parent.parent, Path.cwd()]
    return {p: set(os.listdir(p)) for p in places}


@pytest.fixture
def guard_files(tmp_path):
    before = snapshot(tmp_path)
    yield
    after = snapshot(tmp_path)
    for place, names in after.items():
        extra = {n for n in names - before[place] if not n.startswith((".hypothesis", "test_", "pytest"))}
        assert not extra, f"files appeared outside the data dir in {place}: {extra}"
    data = tmp_path / "data"
    for root, dirs, files in os.walk(data):
        for name in dirs + files:
            path = Path(root, name)
            assert path.resolve().is_relative_to(data.resolve()) or not path.is_symlink(), path


async def send(client, method: str, raw_path: str, **kw):
    """A request whose path goes on the wire as written (no client-side normalisation of '..')."""
    url = URL(f"http://{client.server.host}:{client.server.port}{raw_path}", encoded=True)
    async with client.session.request(method, url, **kw) as resp:
        body = await resp.read()
    assert resp.status < 500, (method, raw_path, resp.status, body[:300])
    assert b"Traceback" not in body
    return resp.status, resp.headers, body


@FUZZ
@given(method=METHODS, segments=st.lists(SEGMENT, min_size=1, max_size=5), tail=TAILS, last=SEGMENT)
async def test_any_path(client, guard_files, method, segments, tail, last):
    await send(client, method, "/v2/" + "/".join(segments) + tail + last)


@FUZZ
@given(method=METHODS, name=SEGMENT, reference=st.one_of(DIGESTS, SEGMENT), route=st.sampled_from(
    ["manifests", "blobs", "referrers", "blobs/uploads"]))
async def test_names_tags_and_digests(client, guard_files, method, name, reference, route):
    await send(client, method, f"/v2/{name}/{route}/{quote(reference, safe='%:')}")
    await send(client, method, f"/v2/ok/{name}/{route}/{quote(reference, safe='%:')}")


@FUZZ
@given(query=st.lists(st.tuples(st.sampled_from(["n", "last", "digest", "mount", "from", "artifactType", "ns",
                                                  "x"]), st.one_of(PRINTABLE, DIGESTS, TEXT)), max_size=5),
       route=st.sampled_from([("GET", "/v2/_catalog"), ("GET", "/v2/a/b/tags/list"), ("POST", "/v2/a/b/blobs/uploads/"),
                              ("GET", "/v2/a/b/referrers/sha256:" + "0" * 64), ("PUT", "/v2/a/b/manifests/t")]))
async def test_query_parameters(client, guard_files, query, route):
    method, path = route
    await send(client, method, path, params=query)


@pytest.fixture
async def stored_blob(client):
    data = bytes(range(256)) * 40
    return await push_blob(client, "fuzz/blob", data), data


RANGES = st.one_of(
    PRINTABLE,
    st.builds(lambda a, b: f"bytes={a}-{b}", st.one_of(st.just(""), st.integers(0, 2**70).map(str)),
              st.one_of(st.just(""), st.integers(0, 2**70).map(str))),
    st.builds(lambda a, b, c: f"bytes={a}-{b},{c}-", st.integers(0, 20000), st.integers(0, 20000), st.integers(0, 9)),
    st.sampled_from(["bytes=-0", "bytes=0-", "bytes=-", "bytes = 5 - 9", "items=0-1", "bytes=9-1", "bytes=10240-"]),
)


@FUZZ
@given(range_header=RANGES, method=st.sampled_from(["GET", "HEAD"]))
async def test_range_headers(client, guard_files, stored_blob, range_header, method):
    digest, data = stored_blob
    status, headers, body = await send(client, method, f"/v2/fuzz/blob/blobs/{digest}",
                                       headers={"Range": range_header})
    assert status in (200, 206, 416)
    if method == "GET" and status == 200:
        assert body == data
    if method == "GET" and status == 206:
        start, end = map(int, headers["Content-Range"].split(" ")[1].split("/")[0].split("-"))
        assert body == data[start:end + 1]


CONTENT_RANGES = st.one_of(
    PRINTABLE,
    st.builds(lambda a, b: f"{a}-{b}", st.integers(0, 2**70), st.integers(0, 2**70)),
    st.builds(lambda a, n: f"{a}-{a + n - 1}", st.integers(0, 40), st.integers(0, 40)),
    st.sampled_from(["0-", "-", "bytes 0-3/4", "bytes 0-3/*", "0-3/x", "00-03", " 0 - 3 "]),
)


@FUZZ
@given(content_range=CONTENT_RANGES, chunk=st.binary(max_size=64), finish=st.booleans())
async def test_content_range_headers(client, guard_files, content_range, chunk, finish):
    status, headers, _ = await send(client, "POST", "/v2/fuzz/up/blobs/uploads/")
    location = headers["Location"]
    status, headers, _ = await send(client, "PATCH", location, data=chunk, headers={"Content-Range": content_range})
    if status == 202:
        assert headers["Range"] == f"0-{max(len(chunk) - 1, 0)}"
    if finish:
        await send(client, "PUT", location, params={"digest": sha(chunk)})
    else:
        await send(client, "DELETE", location)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
                    max_leaves=20)
MEDIA_TYPES = st.sampled_from([OCI_MANIFEST, "application/vnd.oci.image.index.v1+json",
                               "application/vnd.docker.distribution.manifest.v2+json",
                               "application/vnd.docker.distribution.manifest.v1+prettyjws", "text/plain", "",
                               "application/json; charset=utf-8"])


def mutate(base: dict, path: list[str], value):
    doc = json.loads(json.dumps(base))
    node = doc
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            return doc
    if path:
        node[path[-1]] = value
    return doc


BASE = json.loads(image_manifest(b"{}", b"layer"))
FIELDS = st.lists(st.sampled_from(["schemaVersion", "mediaType", "config", "layers", "subject", "manifests",
                                   "digest", "size", "artifactType", "annotations"]), min_size=1, max_size=3)


@FUZZ
@given(body=st.one_of(st.binary(max_size=300), JSON.map(lambda j: json.dumps(j).encode()),
                      st.builds(lambda p, v: json.dumps(mutate(BASE, p, v)).encode(), FIELDS, JSON)),
       media_type=MEDIA_TYPES, reference=st.one_of(st.just("v1"), DIGESTS))
async def test_manifest_bodies(client, guard_files, body, media_type, reference):
    status, _, _ = await send(client, "PUT", f"/v2/fuzz/m/manifests/{quote(reference, safe=':')}", data=body,
                              headers={"Content-Type": media_type})
    assert status in (201, 400, 404, 405, 413)


AUTHORIZATION = st.one_of(
    PRINTABLE,
    st.binary(max_size=60).map(lambda b: "Basic " + __import__("base64").b64encode(b).decode()),
    PRINTABLE.map("Basic ".__add__), PRINTABLE.map("Bearer ".__add__),
    st.lists(st.text(string.ascii_letters + string.digits + "-_", max_size=40), min_size=3, max_size=3)
    .map(lambda parts: "Bearer " + ".".join(parts)),
)


@FUZZ
@given(authorization=AUTHORIZATION, method=METHODS, path=st.sampled_from(
    ["/v2/", "/v2/_catalog", "/v2/team/app/tags/list", "/v2/team/app/blobs/uploads/", "/token?scope=x",
     "/token?scope=repository:team/app:pull"]))
async def test_authorization_headers(aclient, authorization, method, path):
    status, _, _ = await send(aclient, method, path, headers={"Authorization": authorization})
    assert status in (400, 401, 403, 404, 405, 429) or (status == 200 and path.startswith("/token"))
