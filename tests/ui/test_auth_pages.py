"""Signing in with a real browser on a node with auth on (htpasswd, token key, an ACL):
anonymous sees the login form and nothing else, a user with pull on one repository sees only
it, a page asked for before signing in is where the form leads back to, signing out ends it."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from ocicache.auth import tokens

from ..nodeproc import NodeProcess
from .content import Pusher, push_demo
from .users import PASSWORDS, write_config, write_htpasswd


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    base = tmp_path_factory.mktemp("ui-auth")
    tokens.keygen(base / "token.pem")
    cfg = write_config(base / "node.toml", write_htpasswd(base / "htpasswd"), base / "token.pem")
    proc = NodeProcess(base / "node", "--config", str(cfg))
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def demo(node):
    return push_demo(Pusher(node.url, basic=("admin", PASSWORDS["admin"])))


@pytest.fixture
def signed_out(browser, node):
    browser.get(node.url + "/ui/logout")
    yield browser
    browser.get(node.url + "/ui/logout")


def sign_in(browser, user: str, password: str | None = None) -> None:
    browser.one('input[name="username"]').send_keys(user)
    browser.one('input[name="password"]').send_keys(PASSWORDS[user] if password is None else password)
    browser.submit('form.login button[type="submit"]')


def path_of(browser) -> str:
    parts = urlsplit(browser.driver.current_url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_anonymous_sees_the_login_form_and_nothing_else(node, demo, signed_out):
    browser = signed_out
    for path in ("/ui/", "/ui/r/demo/app/", "/ui/r/demo/app/-/m/v1", "/ui/cache"):
        browser.get(node.url + path)
        assert urlsplit(browser.driver.current_url).path == "/ui/login"
        assert browser.text("h1") == "Sign in"
        assert browser.all("header nav") == [] and browser.all("main a") == []
        text = browser.text("main")
        assert all(repo not in text for repo in demo.repositories), text
    browser.get(node.url + "/ui/")
    browser.shot("login")


def test_a_user_with_pull_on_one_repository_sees_only_it(node, demo, signed_out):
    browser = signed_out
    browser.get(node.url + "/ui/")
    sign_in(browser, "alice")
    assert path_of(browser) == "/ui/", browser.text("body")
    assert [a.text for a in browser.all("ul.repos a")] == ["demo/app"]
    assert "signed in as alice" in browser.text("header .who")
    browser.shot("repositories-alice")
    browser.get(node.url + "/ui/r/demo/multi/")
    hidden = browser.text("main")
    browser.get(node.url + "/ui/r/demo/nothing/")
    assert browser.text("h1") == "404 Not Found"
    assert hidden == browser.text("main").replace("demo/nothing", "demo/multi")
    browser.get(node.url + "/ui/r/demo/app/-/m/v1")
    assert demo.app["digest"] in browser.text("table.facts")


def test_a_user_who_may_pull_everything_sees_everything(node, demo, signed_out):
    browser = signed_out
    browser.get(node.url + "/ui/")
    sign_in(browser, "bob")
    assert [a.text for a in browser.all("ul.repos a")] == demo.repositories


def test_the_form_leads_back_to_the_page_asked_for(node, demo, signed_out):
    browser = signed_out
    browser.get(node.url + "/ui/r/demo/multi/-/m/1.0")
    assert path_of(browser) == "/ui/login?next=/ui/r/demo/multi/-/m/1.0"
    sign_in(browser, "bob", "not-it")
    assert "Incorrect user name or password." in browser.text("p.error")
    browser.shot("login-failed")
    browser.one('input[name="password"]').send_keys(PASSWORDS["bob"])
    browser.submit('form.login button[type="submit"]')
    assert path_of(browser) == "/ui/r/demo/multi/-/m/1.0"
    assert len(browser.all("table.platforms tbody tr")) == 2


def test_signing_out_ends_the_session(node, demo, signed_out):
    browser = signed_out
    browser.get(node.url + "/ui/")
    sign_in(browser, "bob")
    assert browser.all("ul.repos a")
    browser.follow(browser.one("header .who a"))
    assert path_of(browser) == "/ui/login"
    browser.get(node.url + "/ui/")
    assert path_of(browser) == "/ui/login" and browser.all("ul.repos") == []
