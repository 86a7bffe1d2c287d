"""Whatever path or query a client sends under /ui/, the app answers an HTML page below 500,
with the page headers and no traceback (the UI's counterpart of tests/auth/test_fuzz.py)."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st
from yarl import URL

from ocicache.ui import paths

from ..api.helpers import push_image
from ..auth.test_fuzz import FUZZ, METHODS, PRINTABLE, SEGMENT

UI_TAILS = st.sampled_from(["", "/", "/-/m/", "/-/m/v1", "/-/m/sha256:" + "0" * 64, "/-/", "/-/x/y", "//"])


async def send(client, method: str, raw_path: str, **kw):
    url = URL(f"http://{client.server.host}:{client.server.port}{raw_path}", encoded=True)
    async with client.session.request(method, url, allow_redirects=False, **kw) as resp:
        body = await resp.read()
    assert resp.status < 500, (method, raw_path, resp.status, body[:300])
    assert b"Traceback" not in body
    assert resp.headers["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in \
        resp.headers["Content-Security-Policy"]
    if resp.status not in (204, 303, 304) and method != "HEAD":
        assert resp.headers["Content-Type"].startswith(("text/html", "text/css", "text/javascript")), raw_path
    return resp.status


@pytest.fixture
async def filled(client):
    await push_image(client, "demo/app", "v1")
    return client


@FUZZ
@given(method=METHODS, segments=st.lists(SEGMENT, min_size=1, max_size=4), tail=UI_TAILS)
async def test_any_repository_path(filled, method, segments, tail):
    await send(filled, method, "/ui/r/" + "/".join(segments) + tail)
    await send(filled, method, "/ui/r/demo/app/-/m/" + segments[0])


@FUZZ
@given(page=st.sampled_from([paths.ROOT, "/ui/r/demo/app/", paths.CACHE, paths.LOGIN, "/ui/static/ui.css"]),
       query=st.lists(st.tuples(st.sampled_from(["n", "last", "next", "x"]), PRINTABLE), max_size=4))
async def test_any_query(filled, page, query):
    await send(filled, "GET", page, params=query)


def test_the_url_scheme_names_one_page_per_path():
    assert paths.parse_repo_path("/ui/r/a/m/b/") == paths.Target("tags", "a/m/b")
    assert paths.parse_repo_path("/ui/r/a/-/m/b") == paths.Target("manifest", "a", "b")
    assert paths.parse_repo_path("/ui/r/a/m/b/-/m/sha256:00") == paths.Target("manifest", "a/m/b", "sha256:00")
    assert paths.parse_repo_path("/ui/r/a/b") == paths.Target("slash", "a/b")
    for nothing in ("/ui/r/", "/ui/r/a/-/m/", "/ui/r/a/-/m/b/c", "/ui/r/a/-/t/b"):
        assert paths.parse_repo_path(nothing) is None, nothing
    assert paths.manifest_url("a.b/c_d-e__f", "sha256:00") == "/ui/r/a.b/c_d-e__f/-/m/sha256:00"
