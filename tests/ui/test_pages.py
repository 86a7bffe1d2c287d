"""The UI in a real browser on a node with auth off: every page against what was pushed
(tests/ui/content.py), the URL scheme for names holding '/', hostile text shown as text, and
error pages for bad input."""
from __future__ import annotations

import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest
from selenium.common.exceptions import NoAlertPresentException

from ..nodeproc import NodeProcess
from .content import (HOSTILE, M_NAME, ODD_NAME, ODD_TAG, SBOM_TYPE, SIGNATURE_TYPE, Pusher, push_demo)

CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    proc = NodeProcess(tmp_path_factory.mktemp("ui-pages") / "node")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def demo(node):
    return push_demo(Pusher(node.url))


def fetch(url: str, method: str = "GET") -> tuple[int, dict, str]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, method=method), timeout=20) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


def no_csp_violations(browser) -> None:
    refused = [m for m in browser.console() if "Content Security Policy" in m or "Refused to" in m]
    assert not refused, refused


def test_repositories_page_lists_every_repository(node, demo, browser):
    browser.get(node.url + "/ui/")
    names = [a.text for a in browser.all("ul.repos a")]
    assert names == demo.repositories
    assert browser.all('header nav a[href="/ui/cache"]') == []  # a node serving its own files: no cache page
    no_csp_violations(browser)
    browser.shot("repositories")


def test_repositories_are_paged_from_the_catalog(node, demo, browser):
    browser.get(node.url + "/ui/?n=3")
    seen = []
    for _ in range(5):
        page = [a.text for a in browser.all("ul.repos a")]
        assert 0 < len(page) <= 3
        seen += page
        more = browser.all('a[rel="next"]')
        if not more:
            break
        browser.follow(more[0])
    assert seen == demo.repositories


def test_tags_page_links_each_tag(node, demo, browser):
    browser.get(node.url + "/ui/r/demo/app/")
    assert "demo/app" in browser.text("h1")
    assert [a.text for a in browser.all("ul.tags a")] == ["latest", "v1"]
    browser.shot("tags")
    browser.follow(browser.all("ul.tags a")[1])
    assert urlsplit(browser.driver.current_url).path == "/ui/r/demo/app/-/m/v1"


def test_image_page_shows_layers_sizes_config_and_pull_commands(node, demo, browser):
    browser.get(node.url + "/ui/r/demo/app/-/m/v1")
    assert demo.app["digest"] in browser.text("table.facts")
    layers = browser.all("table.layers tbody tr")
    assert len(layers) == 2
    sizes = [row.find_element("css selector", "span.size").get_attribute("title") for row in layers]
    assert sizes == [f"{n} bytes" for n in demo.app_layers]
    config = browser.text("table.config")
    assert "linux/amd64" in config and "/usr/bin/demo" in config and "--serve --port 8080" in config
    total = browser.one("table.layers tfoot span.size").get_attribute("title")
    config_size = int(browser.one("table.config span.size").get_attribute("title").split()[0])
    assert total == f"{sum(demo.app_layers) + config_size} bytes"
    assert "ADD file:app-1" in layers[1].text  # the config's history beside its layer
    commands = [c.text for c in browser.all(".cmd code")]
    assert commands == [f"docker pull {node.hostport}/demo/app:v1", f"docker pull {node.hostport}/demo/app@{demo.app['digest']}"]
    no_csp_violations(browser)
    browser.shot("image", full_page=True)


def test_hostile_annotation_is_shown_as_text(node, demo, browser):
    browser.get(node.url + "/ui/r/demo/app/-/m/v1")
    with pytest.raises(NoAlertPresentException):
        browser.driver.switch_to.alert.text
    assert HOSTILE in browser.text("table.annotations")
    scripts = [s.get_attribute("src") for s in browser.all("script")]
    assert scripts == [node.url + "/ui/static/ui.js"]  # the page's one script; the annotation made none
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in browser.driver.page_source


def test_index_page_links_each_platform(node, demo, browser):
    browser.get(node.url + "/ui/r/demo/multi/-/m/1.0")
    assert browser.text("h1 .kind").lower() == "index"
    rows = browser.all("table.platforms tbody tr")
    assert [r.find_elements("css selector", "td")[0].text for r in rows] == ["linux/amd64", "linux/arm64/v8"]
    assert [r.find_element("css selector", "a").text for r in rows] == [d["digest"] for d in demo.platforms.values()]
    browser.shot("index")
    browser.follow(rows[1].find_element("css selector", "a"))
    assert urlsplit(browser.driver.current_url).path == f"/ui/r/demo/multi/-/m/{demo.platforms['linux/arm64/v8']['digest']}"
    assert "linux/arm64/v8" in browser.text("table.config")


def test_referrers_are_grouped_by_artifact_type(node, demo, browser):
    browser.get(node.url + "/ui/r/demo/app/-/m/v1")
    groups = [h.text for h in browser.all("h3.artifact-type")]
    assert groups == [f"{SBOM_TYPE} (2)", f"{SIGNATURE_TYPE} (1)"]
    tables = browser.all("table.referrers")
    listed = [sorted(a.text for a in t.find_elements("css selector", "a")) for t in tables]
    assert listed == [sorted(d["digest"] for d in demo.referrers[SBOM_TYPE]),
                      [demo.referrers[SIGNATURE_TYPE][0]["digest"]]]
    browser.follow(tables[1].find_element("css selector", "a"))
    assert browser.text("h1 .kind").lower() == "artifact"
    facts = browser.text("table.facts")
    assert SIGNATURE_TYPE in facts and demo.app["digest"] in facts  # its artifact type and its subject


def test_a_name_with_every_separator_is_reached_and_shown(node, demo, browser):
    browser.get(node.url + "/ui/")
    [link] = [a for a in browser.all("ul.repos a") if a.text == ODD_NAME]
    browser.follow(link)
    assert urlsplit(browser.driver.current_url).path == f"/ui/r/{ODD_NAME}/"
    assert ODD_NAME in browser.text("h1")
    browser.follow(browser.all("ul.tags a")[0])
    assert urlsplit(browser.driver.current_url).path == f"/ui/r/{ODD_NAME}/-/m/{ODD_TAG}"
    assert demo.odd["digest"] in browser.text("table.facts")


def test_a_name_component_m_is_not_the_marker(node, demo):
    """demo/m/x is a repository; /ui/r/demo/-/m/x is tag x of repository demo (which has none)."""
    status, _, body = fetch(f"{node.url}/ui/r/{M_NAME}/")
    assert status == 200 and ">1</a>" in body
    status, _, body = fetch(f"{node.url}/ui/r/{M_NAME}/-/m/1")
    assert status == 200 and f"docker pull {node.hostport}/{M_NAME}:1" in body
    status, _, body = fetch(f"{node.url}/ui/r/demo/-/m/x")
    assert status == 404 and "manifest x is not in repository demo" in body


@pytest.mark.parametrize("path, status, says", [
    ("/ui/r/nothing/here/", 404, "repository nothing/here is not known"),
    ("/ui/r/Upper/", 400, "invalid"),
    ("/ui/r/demo/app/-/m/bad!tag", 400, "tag"),
    ("/ui/r/demo/app/-/m/sha256:zz", 400, "digest"),
    ("/ui/r/demo/app/-/m/sha384:" + "0" * 96, 404, "is not in repository demo/app"),
    ("/ui/r/demo/app/-/m/sha256:" + "0" * 64, 404, "is not in repository demo/app"),
    ("/ui/r/demo/app/-/x/v1", 404, "no page"),
    ("/ui/r/demo/app/-/m/", 404, "no page"),
    ("/ui/nowhere", 404, "no page"),
    ("/ui/static/nothing.css", 404, "static"),
    ("/ui/?n=abc", 400, "n=&#x27;abc&#x27;"),
])
def test_bad_input_gets_an_html_error_page_with_its_status(node, demo, path, status, says):
    got, headers, body = fetch(node.url + path)
    assert got == status, body[:500]
    assert headers["Content-Type"].startswith("text/html") and "Traceback" not in body
    assert says in body, body[:1000]
    assert headers["Content-Security-Policy"] == CSP


def test_writes_are_refused_with_405(node, demo):
    for method in ("POST", "PUT", "DELETE"):
        status, headers, body = fetch(node.url + "/ui/r/demo/app/", method)
        assert status == 405 and headers["Allow"] == "GET, HEAD" and "the UI only reads" in body


def test_every_ui_response_carries_the_page_headers(node, demo):
    for path in ("/ui/", "/ui/r/demo/app/", "/ui/r/demo/app/-/m/v1", "/ui/r/nothing/", "/ui/static/ui.css", "/ui"):
        _, headers, _ = fetch(node.url + path)
        assert headers["Content-Security-Policy"] == CSP, path
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Cache-Control"] == ("max-age=300" if path.endswith(".css") else "no-store"), path
    _, headers, body = fetch(node.url + "/ui/static/ui.css")
    assert headers["Content-Type"].startswith("text/css") and "body" in body


def test_the_browser_shows_error_pages(node, demo, browser):
    browser.get(node.url + "/ui/r/nothing/here/")
    assert browser.text("h1") == "404 Not Found"
    assert "repository nothing/here is not known to this registry" in browser.text("main")
