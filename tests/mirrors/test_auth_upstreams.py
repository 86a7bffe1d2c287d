"""Mirroring distribution with htpasswd and with token auth: skopeo pulls through the node by
path prefix and by ?ns=, digests match, and a second pull asks the upstream for no blob."""
from __future__ import annotations

import json

from ..distribution import Distribution
from ..faultproxy import FaultProxy
from ..nodeproc import NodeProcess
from ..tokenissuer import TokenIssuer
from .conftest import error_of, get, sha, skopeo

USERS = {"alice": "s3cret-pw"}
CREDS = "alice:s3cret-pw"


def seed(reg: Distribution, layouts, image: str, repo: str) -> None:
    out = skopeo("copy", "--dest-tls-verify=false", f"--dest-creds={CREDS}", f"oci:{layouts}/{image}:latest",
                 f"docker://{reg.hostport}/{repo}")
    assert out.returncode == 0, out.stderr


def pull_twice_by_prefix(edge: NodeProcess, proxy: FaultProxy, ref: str, want: str, tmp_path) -> None:
    for attempt in (1, 2):
        out = skopeo("copy", "--src-tls-verify=false", f"docker://{edge.hostport}/{ref}",
                     f"oci:{tmp_path}/pulled{attempt}:latest")
        assert out.returncode == 0, out.stderr
        index = json.loads((tmp_path / f"pulled{attempt}" / "index.json").read_text())
        assert index["manifests"][0]["digest"] == want
        if attempt == 1:
            assert proxy.counts[("GET", "blob")] >= 2  # config and layer came from the upstream
            proxy.reset()
    assert proxy.counts[("GET", "blob")] == 0, proxy.requests


def pull_by_ns(edge: NodeProcess, repo: str, tag: str, ns: str, want: str) -> None:
    status, headers, body = get(edge.url, f"/v2/{repo}/manifests/{tag}?ns={ns}")
    assert status == 200, body
    assert sha(body) == want == headers["Docker-Content-Digest"]
    for layer in json.loads(body)["layers"]:
        status, _, blob = get(edge.url, f"/v2/{repo}/blobs/{layer['digest']}?ns={ns}")
        assert status == 200 and sha(blob) == layer["digest"]


def test_htpasswd_upstream(tmp_path, images, started):
    layouts, want = images
    reg = started(Distribution(tmp_path / "reg", auth="htpasswd", users=USERS))
    seed(reg, layouts, "small", "team/app:v1")
    proxy = started(FaultProxy(reg.url))
    edge = started(NodeProcess(tmp_path / "edge", "--upstream", f"reg.test={proxy.url}",
                               env={"OCICACHE_UPSTREAMS_CREDENTIALS": f"reg.test={CREDS}"}))
    pull_twice_by_prefix(edge, proxy, "reg.test/team/app:v1", want["small"], tmp_path)
    pull_by_ns(edge, "team/app", "v1", "reg.test", want["small"])

    anonymous = started(NodeProcess(tmp_path / "anon", "--upstream", f"reg.test={reg.url}"))
    status, _, body = get(anonymous.url, "/v2/team/app/manifests/v1?ns=reg.test")
    assert status == 403, body
    err = error_of(body)
    assert err["code"] == "DENIED" and "upstream reg.test" in err["message"] and "team/app" in err["message"]
    assert "credentials" in err["message"]


def test_token_upstream(tmp_path, images, started):
    layouts, want = images
    issuer = started(TokenIssuer(tmp_path / "issuer", USERS))
    reg = started(Distribution(tmp_path / "reg", auth="token", issuer=issuer))
    seed(reg, layouts, "small", "team/app:v1")
    seed(reg, layouts, "multilayer", "public/base:v1")
    proxy = started(FaultProxy(reg.url))
    edge = started(NodeProcess(tmp_path / "edge", "--upstream", f"tok.test={proxy.url}",
                               env={"OCICACHE_UPSTREAMS_CREDENTIALS": f"tok.test={CREDS}",
                                    "OCICACHE_UPSTREAMS_TOKEN_REALMS": f"tok.test={issuer.url}"}))
    issuer.requests.clear()
    pull_twice_by_prefix(edge, proxy, "tok.test/team/app:v1", want["small"], tmp_path)
    asked = [r for r in issuer.requests if r[1] == "repository:team/app:pull"]
    assert asked and all(user == "alice" for user, _ in asked)
    count = len(issuer.requests)
    pull_by_ns(edge, "team/app", "v1", "tok.test", want["small"])
    assert len(issuer.requests) == count  # the token is cached for its scope until it expires

    anonymous = started(NodeProcess(tmp_path / "anon", "--upstream", f"tok.test={reg.url}"))
    pull_by_ns(anonymous, "public/base", "v1", "tok.test", want["multilayer"])
    status, _, body = get(anonymous.url, "/v2/tok.test/team/app/manifests/v1")
    assert status == 403 and error_of(body)["code"] == "DENIED", body
    assert ("", "repository:team/app:pull") in issuer.requests


def test_wrong_credentials_name_the_token_service(tmp_path, started):
    issuer = started(TokenIssuer(tmp_path / "issuer", USERS))
    reg = started(Distribution(tmp_path / "reg", auth="token", issuer=issuer))
    edge = started(NodeProcess(tmp_path / "edge", "--upstream", f"tok.test={reg.url}",
                               env={"OCICACHE_UPSTREAMS_CREDENTIALS": "tok.test=alice:wrong",
                                    "OCICACHE_UPSTREAMS_TOKEN_REALMS": f"tok.test={issuer.url}"}))
    status, _, body = get(edge.url, "/v2/team/app/manifests/v1?ns=tok.test")
    assert status == 403, body
    message = error_of(body)["message"]
    assert "upstream tok.test" in message and issuer.url in message and "credentials" in message
