"""Listings: tags (end-8a/8b), _catalog, referrers (end-12a/12b)."""
from __future__ import annotations

import re

import pytest

from ocicache import config
from ocicache.app import make_app
from ocicache.origin import layout
from ocicache.origin.layout import ROOT

from .helpers import (OCI_INDEX, OCI_MANIFEST, descriptor, error_code, image_manifest, push_blob,
                      push_image, put_manifest, sha)

REPO = "acme/list"
TAGS = ["v1", "V2", "a", "latest", "1.0", "b_c"]


@pytest.fixture
async def tagged(client):
    image = await push_image(client, REPO, TAGS[0])
    for tag in TAGS[1:]:
        await put_manifest(client, REPO, tag, image.manifest, OCI_MANIFEST)
    return sorted(TAGS)


def next_link(resp) -> str | None:
    link = resp.headers.get("Link")
    if link is None:
        return None
    match = re.fullmatch(r'<([^>]+)>;\s*rel="next"', link)
    assert match, link
    return match.group(1)


async def test_tags_sorted(client, tagged):
    resp = await client.get(f"/v2/{REPO}/tags/list")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("application/json")
    # lexical ("ASCIIbetical") order, as CNCF distribution sorts: uppercase before lowercase
    assert await resp.json() == {"name": REPO, "tags": ["1.0", "V2", "a", "b_c", "latest", "v1"]}
    assert "Link" not in resp.headers


async def test_tags_pagination_follows_link(client, tagged):
    seen, url, pages = [], f"/v2/{REPO}/tags/list?n=4", 0
    while url:
        resp = await client.get(url)
        assert resp.status == 200
        body = await resp.json()
        assert body["name"] == REPO
        seen += body["tags"]
        pages += 1
        url = next_link(resp)
        if url:
            assert len(body["tags"]) == 4
            assert url.startswith(f"/v2/{REPO}/tags/list?")
    assert seen == tagged
    assert pages == 2


async def test_tags_n_and_last(client, tagged):
    resp = await client.get(f"/v2/{REPO}/tags/list", params={"n": "2", "last": "V2"})
    assert (await resp.json())["tags"] == ["a", "b_c"]
    assert next_link(resp) == f"/v2/{REPO}/tags/list?n=2&last=b_c"
    resp = await client.get(f"/v2/{REPO}/tags/list", params={"last": "b_c"})
    assert (await resp.json())["tags"] == ["latest", "v1"]
    assert "Link" not in resp.headers
    resp = await client.get(f"/v2/{REPO}/tags/list", params={"n": "2", "last": "v1"})
    assert (await resp.json())["tags"] == []
    assert "Link" not in resp.headers


async def test_tags_exact_fit_has_no_link(client, tagged):
    resp = await client.get(f"/v2/{REPO}/tags/list", params={"n": str(len(tagged))})
    assert (await resp.json())["tags"] == tagged
    assert "Link" not in resp.headers


async def test_tags_n_zero(client, tagged):
    resp = await client.get(f"/v2/{REPO}/tags/list", params={"n": "0"})
    assert resp.status == 200
    assert await resp.json() == {"name": REPO, "tags": []}
    assert "Link" not in resp.headers


async def test_tags_unknown_repo(client, tagged):
    resp = await client.get("/v2/no/such/repo/tags/list")
    assert resp.status == 404
    assert await error_code(resp) == "NAME_UNKNOWN"


async def test_tags_of_repo_with_only_untagged_manifests(client):
    await push_image(client, REPO, None)
    resp = await client.get(f"/v2/{REPO}/tags/list")
    assert resp.status == 200
    assert await resp.json() == {"name": REPO, "tags": []}


@pytest.mark.parametrize("n", ["-1", "abc", "1.5", "9" * 30, ""])
async def test_tags_bad_n(client, tagged, n):
    resp = await client.get(f"/v2/{REPO}/tags/list", params={"n": n})
    assert resp.status == 400
    assert await error_code(resp) == "PAGINATION_NUMBER_INVALID"


@pytest.mark.own_node  # the catalog lists every repository of the node
async def test_catalog(client):
    for repo in ("zeta", "alpha/one", "alpha/two", "mid"):
        await push_image(client, repo, "v1")
    await push_blob(client, "blobs/only", b"not a repository yet")
    resp = await client.get("/v2/_catalog")
    assert resp.status == 200
    assert await resp.json() == {"repositories": ["alpha/one", "alpha/two", "mid", "zeta"]}
    resp = await client.get("/v2/_catalog", params={"n": "3"})
    assert (await resp.json())["repositories"] == ["alpha/one", "alpha/two", "mid"]
    url = next_link(resp)
    assert url == "/v2/_catalog?n=3&last=mid"
    resp = await client.get(url)
    assert (await resp.json())["repositories"] == ["zeta"]
    assert "Link" not in resp.headers
    resp = await client.get("/v2/_catalog", params={"n": "0"})
    assert await resp.json() == {"repositories": []}
    assert "Link" not in resp.headers
    resp = await client.get("/v2/_catalog", params={"last": "alpha/two"})
    assert (await resp.json())["repositories"] == ["mid", "zeta"]


@pytest.mark.own_node  # the catalog lists every repository of the node
async def test_catalog_empty_and_bad_n(client):
    resp = await client.get("/v2/_catalog")
    assert resp.status == 200
    assert await resp.json() == {"repositories": []}
    resp = await client.get("/v2/_catalog", params={"n": "x"})
    assert resp.status == 400
    assert await error_code(resp) == "PAGINATION_NUMBER_INVALID"


async def push_referrer(client, subject, artifact_type: str | None, annotations: dict, seed: str,
                        algo: str = "sha256") -> bytes:
    """Push an artifact whose subject is `subject`, by its `algo` digest (blobs under `algo` too)."""
    config, layer = b"{}", f"payload {seed}".encode()
    await push_blob(client, REPO, config, algo)
    await push_blob(client, REPO, layer, algo)
    subject_algo = subject.digest.partition(":")[0]
    extra = {"subject": descriptor(OCI_MANIFEST, subject.manifest, subject_algo), "annotations": annotations}
    if artifact_type:
        extra["artifactType"] = artifact_type
    body = image_manifest(config, layer, algo=algo, **extra)
    resp = await put_manifest(client, REPO, sha(body, algo), body, OCI_MANIFEST)
    assert resp.headers["OCI-Subject"] == subject.digest
    return body


@pytest.mark.parametrize("subject", ["sha256:" + "1" * 64, "sha512:" + "1" * 128,
                                     "sha384:" + "1" * 96, "md5:" + "1" * 32])  # the last two: not stored here
async def test_referrers_of_unknown_subject_is_empty_index(client, subject):
    await push_image(client, REPO, "v1")
    for repo in (REPO, "never/pushed"):
        resp = await client.get(f"/v2/{repo}/referrers/{subject}")
        assert resp.status == 200
        assert resp.headers["Content-Type"] == OCI_INDEX
        assert await resp.json(content_type=None) == {"schemaVersion": 2, "mediaType": OCI_INDEX,
                                                      "manifests": []}


async def test_referrers_listed_and_filtered(client, algo):
    subject = await push_image(client, REPO, None, algo=algo)
    sig = await push_referrer(client, subject, "application/vnd.example.signature", {"k": "sig"}, "s", algo)
    sbom = await push_referrer(client, subject, None, {"org.example.sbom": "spdx"}, "b", algo)
    resp = await client.get(f"/v2/{REPO}/referrers/{subject.digest}")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == OCI_INDEX
    assert "OCI-Filters-Applied" not in resp.headers
    body = await resp.json(content_type=None)
    assert body["schemaVersion"] == 2 and body["mediaType"] == OCI_INDEX
    got = {m["digest"]: m for m in body["manifests"]}
    assert got == {
        sha(sig, algo): {"mediaType": OCI_MANIFEST, "digest": sha(sig, algo), "size": len(sig),
                   "artifactType": "application/vnd.example.signature", "annotations": {"k": "sig"}},
        sha(sbom, algo): {"mediaType": OCI_MANIFEST, "digest": sha(sbom, algo), "size": len(sbom),
                    # spec: with no artifactType, the config's mediaType stands in
                    "artifactType": "application/vnd.oci.image.config.v1+json",
                    "annotations": {"org.example.sbom": "spdx"}},
    }
    resp = await client.get(f"/v2/{REPO}/referrers/{subject.digest}",
                            params={"artifactType": "application/vnd.example.signature"})
    assert resp.status == 200
    assert resp.headers["OCI-Filters-Applied"] == "artifactType"
    assert [m["digest"] for m in (await resp.json(content_type=None))["manifests"]] == [sha(sig, algo)]
    resp = await client.get(f"/v2/{REPO}/referrers/{subject.digest}", params={"artifactType": "x/none"})
    assert resp.headers["OCI-Filters-Applied"] == "artifactType"
    assert (await resp.json(content_type=None))["manifests"] == []


async def test_referrers_of_both_algorithms_are_listed_together(client):
    """One subject, a sha256 and a sha512 referrer (each pushed by its own digest): both listed."""
    subject = await push_image(client, REPO, None, algo="sha512")
    old = await push_referrer(client, subject, "application/vnd.example.a", {"k": "256"}, "a", "sha256")
    new = await push_referrer(client, subject, "application/vnd.example.b", {"k": "512"}, "b", "sha512")
    resp = await client.get(f"/v2/{REPO}/referrers/{subject.digest}")
    got = sorted(m["digest"] for m in (await resp.json(content_type=None))["manifests"])
    assert got == sorted([sha(old), sha(new, "sha512")])


async def test_deleted_referrer_is_not_listed(client, algo):
    subject = await push_image(client, REPO, "v1", algo=algo)
    sig = await push_referrer(client, subject, "application/vnd.example.signature", {"k": "v"}, "s", algo)
    assert (await client.delete(f"/v2/{REPO}/manifests/{sha(sig, algo)}")).status == 202
    resp = await client.get(f"/v2/{REPO}/referrers/{subject.digest}")
    assert (await resp.json(content_type=None))["manifests"] == []


async def test_referrers_bad_digest(client):
    resp = await client.get(f"/v2/{REPO}/referrers/sha256:short")
    assert resp.status == 400
    assert await error_code(resp) == "DIGEST_INVALID"


def write_layout(root, repos: list[str], tags: dict[str, list[str]]) -> None:
    """Repositories and tags written straight into a directory origin's layout (what a registry:2
    or an older node left there), the way tests build thousands of them cheaply."""
    base = root / ROOT
    link = b"sha256:" + b"0" * 64
    for repo in repos:
        (base / layout.manifests_dir(repo) / "revisions").mkdir(parents=True)
    for repo, names in tags.items():
        for tag in names:
            path = base / layout.tag_current_link(repo, tag)
            path.parent.mkdir(parents=True)
            path.write_bytes(link)


async def walk(client, url: str, key: str) -> list[str]:
    """Every name of a paged listing, following its Link headers."""
    seen = []
    while url:
        resp = await client.get(url)
        assert resp.status == 200, await resp.text()
        seen += (await resp.json())[key]
        url = next_link(resp)
    return seen


async def test_catalog_and_tag_walks_over_thousands_return_each_name_once_in_order(aiohttp_client, tmp_path):
    """Issue 23: pages come from the directory origin's listing index, rebuilt from the layout
    on first use and kept by the write path: every name exactly once, in byte order."""
    repos = [f"walk/r{i:04d}" for i in range(3000)]
    tags = [f"t{i:04d}" for i in range(0, 6000, 2)] + ["V", "a.b", "a-b", "a_b", "a"]
    write_layout(tmp_path / "data" / "origin", repos, {"walk/tagged": tags})
    cfg = config.load(env={}, overrides={"storage": {"data_dir": str(tmp_path / "data")},
                                         "limits": {"max_page": 400}})
    client = await aiohttp_client(make_app(cfg))
    await push_image(client, "walk/r0999x", "t0001")  # one repository and tag through the API
    await put_manifest(client, "walk/tagged", "t0003", (await push_image(client, "walk/tagged", None)).manifest,
                       OCI_MANIFEST)
    expected_repos = sorted(repos + ["walk/r0999x", "walk/tagged"])
    assert await walk(client, "/v2/_catalog", "repositories") == expected_repos  # no n: pages of max_page
    assert await walk(client, "/v2/_catalog?n=250", "repositories") == expected_repos
    expected_tags = sorted(tags + ["t0003"])
    assert await walk(client, "/v2/walk/tagged/tags/list?n=300", "tags") == expected_tags
    resp = await client.get("/v2/walk/tagged/tags/list")
    assert (await resp.json())["tags"] == expected_tags and "Link" not in resp.headers  # no n: every tag
