"""The screenshots of docs/UI.md, taken from real nodes with the tests' content:

    python -m tests.ui.screenshots docs/ui/

Starts an origin node with auth on (the users of tests/ui/users.py) and an edge in front of it,
pushes tests/ui/content.py's registry, pulls one image through the edge, pushes blobs to two
repositories through the edge past its budget (so that the cache page has evictions and a
ranking to show), and saves one PNG per page: login, repositories, tags, image, index,
referrer, error, cache. Stops both nodes.
"""
from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

from ocicache.auth import tokens

from ..nodeproc import NodeProcess
from .browser import Browser, missing
from .content import OCI_LAYER, SIGNATURE_TYPE, Pusher, push_demo, seeded
from .users import PASSWORDS, write_config, write_htpasswd


def _sign_in(browser: Browser, url: str, user: str) -> None:
    browser.get(url + "/ui/login")
    browser.one('input[name="username"]').send_keys(user)
    browser.one('input[name="password"]').send_keys(PASSWORDS[user])
    browser.submit('form.login button[type="submit"]')


def take(out: Path, work: Path) -> list[Path]:
    tokens.keygen(work / "token.pem")
    cfg = write_config(work / "node.toml", write_htpasswd(work / "htpasswd"), work / "token.pem")
    origin = NodeProcess(work / "origin", "--config", str(cfg))
    edge = None
    browser = None
    try:
        origin.start()
        demo = push_demo(Pusher(origin.url, basic=("admin", PASSWORDS["admin"])))
        edge = NodeProcess(work / "edge", "--origin", origin.url, "--cache-max-bytes", "4000000",
                           "--config", str(cfg), env={"OCICACHE_ORIGIN_USERNAME": "admin",
                                                      "OCICACHE_ORIGIN_PASSWORD": PASSWORDS["admin"]})
        edge.start()
        pull = Pusher(edge.url, basic=("admin", PASSWORDS["admin"]))
        manifest = pull.get("/v2/demo/app/manifests/v1")
        for digest in re.findall(rb'"digest":"(sha256:[0-9a-f]+)"', manifest):
            for _ in range(2):
                pull.get(f"/v2/demo/app/blobs/{digest.decode()}")
        for i, (repo, n) in enumerate([("team/r1", 250_000)] * 10 + [("team/r2", 100_000)] * 8):
            pull.blob(repo, seeded(f"shot-{i}", n), OCI_LAYER)
        browser = Browser(out)
        browser.get(origin.url + "/ui/")
        shots = [browser.shot("login")]
        _sign_in(browser, origin.url, "bob")
        shots.append(browser.shot("repositories"))
        browser.get(origin.url + "/ui/r/demo/app/")
        shots.append(browser.shot("tags"))
        browser.get(origin.url + "/ui/r/demo/app/-/m/v1")
        shots.append(browser.shot("image", full_page=True))
        browser.get(origin.url + "/ui/r/demo/multi/-/m/1.0")
        shots.append(browser.shot("index", full_page=True))
        browser.get(origin.url + f"/ui/r/demo/app/-/m/{demo.referrers[SIGNATURE_TYPE][0]['digest']}")
        shots.append(browser.shot("referrer", full_page=True))
        browser.get(origin.url + "/ui/r/demo/nothing/")
        shots.append(browser.shot("error"))
        _sign_in(browser, edge.url, "bob")
        browser.get(edge.url + "/ui/cache")
        shots.append(browser.shot("cache", full_page=True))
        return shots
    finally:
        if browser is not None:
            browser.close()
        if edge is not None:
            edge.stop()
        origin.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for the PNG files (docs/ui/)")
    args = parser.parse_args(argv)
    why = missing()
    if why is not None:
        print(f"screenshots: {why}", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="ocicache-shots-"))
    try:
        for path in take(args.out, work):
            print(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
