"""DistributionOrigin (the registry origin) against a real ocicache node, directly and through a FaultProxy."""
from __future__ import annotations

import hashlib
import http.client
import json
import random
import time

import pytest

from ocicache import errors
from ocicache.config import ConfigError
from ocicache.errors import OCIError, Unsupported
from ocicache.origin import distribution as registry_module, registry_http
from ocicache.origin.distribution import DistributionOrigin as RegistryOrigin
from ocicache.origin.registry_http import _retry_after
from ocicache.reference import Digest

from ..faultproxy import FaultProxy
from ..nodeproc import NodeProcess, free_port

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
EMPTY = "application/vnd.oci.empty.v1+json"
REPO = "team/app"
MISSING = Digest.parse("sha256:" + "0" * 64)


# ---- pushing content into the origin node over HTTP ----
def _call(node: NodeProcess, method: str, path: str, body: bytes | None = None,
          headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    resp.body = resp.read()
    conn.close()
    return resp


def _digest(data: bytes) -> Digest:
    return Digest.from_hex(hashlib.sha256(data).hexdigest())


def _descriptor(media_type: str, data: bytes, **extra) -> dict:
    return {"mediaType": media_type, "digest": str(_digest(data)), "size": len(data), **extra}


def push_blob(node: NodeProcess, repo: str, data: bytes) -> Digest:
    digest = _digest(data)
    resp = _call(node, "POST", f"/v2/{repo}/blobs/uploads/?digest={digest}", data)
    assert resp.status == 201, resp.body
    return digest


def push_manifest(node: NodeProcess, repo: str, reference: str, manifest: dict) -> tuple[Digest, bytes]:
    body = json.dumps(manifest, separators=(",", ":")).encode()
    resp = _call(node, "PUT", f"/v2/{repo}/manifests/{reference}", body,
                 {"Content-Type": manifest["mediaType"]})
    assert resp.status == 201, resp.body
    return _digest(body), body


class Content:
    """What the module's origin node holds."""


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    proc = NodeProcess(tmp_path_factory.mktemp("origin") / "node", "--workers", "1")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def content(node) -> Content:
    c = Content()
    c.blob = random.Random(11).randbytes(1024 * 1024 + 4321)
    c.blob_digest = push_blob(node, REPO, c.blob)
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"layer bytes " * 100
    push_blob(node, REPO, config)
    push_blob(node, REPO, layer)
    image = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": _descriptor(
        "application/vnd.oci.image.config.v1+json", config),
        "layers": [_descriptor("application/vnd.oci.image.layer.v1.tar+gzip", layer)]}
    c.manifest_digest, c.manifest = push_manifest(node, REPO, "v2", image)
    push_manifest(node, REPO, "v1", image)
    c.index_digest, c.index = push_manifest(node, REPO, "multi", {
        "schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            _descriptor(OCI_MANIFEST, c.manifest, platform={"architecture": "amd64", "os": "linux"})]})
    push_blob(node, REPO, b"{}")
    c.referrer_digest, _ = push_manifest(node, REPO, "sbom", {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/spdx+json",
        "config": _descriptor(EMPTY, b"{}"), "layers": [_descriptor(EMPTY, b"{}")],
        "subject": _descriptor(OCI_MANIFEST, c.manifest)})
    push_blob(node, "other/repo", config)
    push_blob(node, "other/repo", layer)
    push_manifest(node, "other/repo", "latest", image)
    return c


@pytest.fixture
async def origin(node):
    o = RegistryOrigin(node.url)
    yield o
    await o.close()


@pytest.fixture
def proxy(node):
    with FaultProxy(node.url) as p:
        yield p


@pytest.fixture
async def proxied(proxy):
    o = RegistryOrigin(proxy.url, retries=2, read_timeout=2.0)
    yield o
    await o.close()


async def read_all(origin, repo, digest, offset=0, length=None) -> bytes:
    return b"".join([chunk async for chunk in origin.read_blob(repo, digest, offset, length)])


# ---- blobs ----
async def test_blob_size_and_linked(origin, content, node):
    assert await origin.blob_size(REPO, content.blob_digest) == len(content.blob)
    assert await origin.blob_linked(REPO, content.blob_digest)
    assert not await origin.blob_linked("other/repo", content.blob_digest)
    assert not await origin.blob_linked(REPO, MISSING)
    with pytest.raises(OCIError) as info:
        await origin.blob_size(REPO, MISSING)
    assert info.value.code is errors.BLOB_UNKNOWN
    assert REPO in info.value.message and str(MISSING) in info.value.message and node.url in info.value.message


async def test_read_whole_blob_in_bounded_chunks(origin, content):
    chunks = [chunk async for chunk in origin.read_blob(REPO, content.blob_digest)]
    assert b"".join(chunks) == content.blob
    assert max(map(len, chunks)) <= registry_module.READ_CHUNK


async def test_read_random_ranges(origin, content):
    rng, size = random.Random(5), len(content.blob)
    spans = [(0, 1), (size - 1, None), (size - 1, 1), (10, size - 10), (size - 100, 5000)]
    spans += [(rng.randrange(size), rng.choice([None, rng.randrange(1, 300_000)])) for _ in range(20)]
    for offset, length in spans:
        end = size if length is None else min(size, offset + length)
        assert await read_all(origin, REPO, content.blob_digest, offset, length) == content.blob[offset:end], \
            (offset, length)
    assert await read_all(origin, REPO, content.blob_digest, 7, 0) == b""


async def test_read_unknown_blob_is_blob_unknown(origin, content):
    with pytest.raises(OCIError) as info:
        await read_all(origin, REPO, MISSING)
    assert info.value.code is errors.BLOB_UNKNOWN
    with pytest.raises(OCIError) as info:
        await read_all(origin, "other/repo", content.blob_digest, 10, 10)
    assert info.value.code is errors.BLOB_UNKNOWN


async def test_range_ignored_by_origin_is_cut_locally(proxied, proxy, content):
    proxy.strip_range = True
    assert await read_all(proxied, REPO, content.blob_digest, 1000, 70_000) == content.blob[1000:71_000]
    assert await read_all(proxied, REPO, content.blob_digest, 500_000) == content.blob[500_000:]
    assert [status for _, _, status in proxy.requests] == [200, 200]


async def test_dropped_body_is_unavailable_never_short(proxied, proxy, content):
    proxy.drop_after, proxy.drop_every = 300_000, True
    got = []
    with pytest.raises(OCIError) as info:
        async for chunk in proxied.read_blob(REPO, content.blob_digest):
            got.append(chunk)
    assert info.value.code is errors.UNAVAILABLE
    received = b"".join(got)
    assert 0 < len(received) <= 300_000 and content.blob.startswith(received)
    assert f"{len(received)} of {len(content.blob)} bytes" in info.value.message
    assert proxy.url in info.value.message and str(content.blob_digest) in info.value.message


async def test_caller_resumes_after_a_drop(proxied, proxy, content):
    proxy.drop_after = 400_000  # once
    got = bytearray()
    with pytest.raises(OCIError) as info:
        async for chunk in proxied.read_blob(REPO, content.blob_digest):
            got += chunk
    assert info.value.code is errors.UNAVAILABLE and info.value.detail["received"] == len(got)
    async for chunk in proxied.read_blob(REPO, content.blob_digest, len(got)):
        got += chunk
    assert bytes(got) == content.blob


# ---- manifests, tags, listings ----
async def test_get_manifest_and_index(origin, content):
    assert await origin.get_manifest(REPO, content.manifest_digest) == content.manifest
    assert await origin.get_manifest(REPO, content.index_digest) == content.index
    with pytest.raises(OCIError) as info:
        await origin.get_manifest(REPO, MISSING)
    assert info.value.code is errors.MANIFEST_UNKNOWN


async def test_corrupt_manifest_is_unavailable(proxied, proxy, content):
    proxy.fault_kinds, proxy.corrupt, proxy.corrupt_at = {"manifest"}, True, 10
    with pytest.raises(OCIError) as info:
        await proxied.get_manifest(REPO, content.manifest_digest)
    assert info.value.code is errors.UNAVAILABLE and "do not hash to" in info.value.message


async def test_oversized_manifest_is_refused(origin, content, monkeypatch):
    monkeypatch.setattr(registry_http, "MAX_MANIFEST_BYTES", len(content.manifest) - 1)
    with pytest.raises(OCIError) as info:
        await origin.get_manifest(REPO, content.manifest_digest)
    assert info.value.code is errors.UNAVAILABLE and "more than" in info.value.message


async def test_resolve_tag(origin, content):
    assert await origin.resolve_tag(REPO, "v1") == content.manifest_digest
    assert await origin.resolve_tag(REPO, "multi") == content.index_digest
    with pytest.raises(OCIError) as info:
        await origin.resolve_tag(REPO, "nope")
    assert info.value.code is errors.MANIFEST_UNKNOWN and "nope" in info.value.message


async def test_resolve_tag_without_digest_header_hashes_the_body(proxied, proxy, content):
    proxy.hide_headers = {"Docker-Content-Digest"}
    assert await proxied.resolve_tag(REPO, "multi") == content.index_digest
    assert proxy.counts[("HEAD", "manifest")] == 1 and proxy.counts[("GET", "manifest")] == 1


async def test_list_tags_follows_pagination(proxied, proxy, content):
    proxied.page_size = 1
    assert await proxied.list_tags(REPO) == ["multi", "sbom", "v1", "v2"]
    assert proxy.counts[("GET", "tags")] == 4
    with pytest.raises(OCIError) as info:
        await proxied.list_tags("no/such")
    assert info.value.code is errors.NAME_UNKNOWN


async def test_list_repositories(origin, content):
    assert await origin.list_repositories() == ["other/repo", REPO]
    origin.page_size = 1
    assert await origin.list_repositories() == ["other/repo", REPO]


async def test_list_referrers(origin, content):
    assert await origin.list_referrers(REPO, content.manifest_digest) == [content.referrer_digest]
    assert await origin.list_referrers(REPO, content.index_digest) == []
    assert await origin.list_referrers("no/such", MISSING) == []


# ---- failures ----
async def test_5xx_is_retried_then_unavailable(proxied, proxy, content):
    proxy.status_override = 500
    with pytest.raises(OCIError) as info:
        await proxied.blob_size(REPO, content.blob_digest)
    assert info.value.code is errors.UNAVAILABLE and "500" in info.value.message
    assert proxy.counts[("HEAD", "blob")] == 3  # 1 + retries=2


async def test_5xx_recovers_within_retries(proxied, proxy, content):
    proxy.status_override, proxy.status_times = 503, 2
    assert await read_all(proxied, REPO, content.blob_digest, 0, 10) == content.blob[:10]
    assert [s for _, _, s in proxy.requests] == [503, 503, 206]


async def test_429_waits_retry_after_once(proxied, proxy, content):
    proxy.status_override, proxy.status_times, proxy.retry_after = 429, 1, "1"
    started = time.monotonic()
    assert await proxied.get_manifest(REPO, content.manifest_digest) == content.manifest
    assert time.monotonic() - started >= 0.9
    assert [s for _, _, s in proxy.requests] == [429, 200]


async def test_429_twice_is_unavailable_with_retry_after(proxied, proxy, content):
    proxy.status_override, proxy.retry_after = 429, "0.1"
    with pytest.raises(OCIError) as info:
        await proxied.resolve_tag(REPO, "v1")
    assert info.value.code is errors.UNAVAILABLE and info.value.status == 503
    assert info.value.headers == {"Retry-After": "1"}
    assert proxy.counts[("HEAD", "manifest")] == 2


async def test_hanging_origin_times_out(proxy, content):
    proxy.hang = True
    o = RegistryOrigin(proxy.url, read_timeout=0.3, retries=1)
    started = time.monotonic()
    try:
        with pytest.raises(OCIError) as info:
            await o.blob_size(REPO, content.blob_digest)
    finally:
        await o.close()
    assert info.value.code is errors.UNAVAILABLE and "Timeout" in info.value.message
    assert time.monotonic() - started < 3
    assert proxy.counts[("HEAD", "blob")] == 2


async def test_unreachable_origin_is_unavailable():
    o = RegistryOrigin(f"http://127.0.0.1:{free_port()}", retries=1)
    try:
        for call in (o.blob_size(REPO, MISSING), o.list_tags(REPO), read_all(o, REPO, MISSING)):
            with pytest.raises(OCIError) as info:
                await call
            assert info.value.code is errors.UNAVAILABLE and "2 attempts" in info.value.message
    finally:
        await o.close()


# ---- what a read-only origin refuses ----
async def test_writes_are_unsupported(origin, tmp_path, node):
    staged = tmp_path / "staged"
    staged.write_bytes(b"x")
    calls = [origin.put_blob(MISSING, staged), origin.link_blob(REPO, MISSING),
             origin.unlink_blob(REPO, MISSING), origin.put_manifest(REPO, MISSING, b"{}", "t"),
             origin.delete_manifest(REPO, MISSING), origin.delete_tag(REPO, "v1"),
             origin.add_referrer(REPO, MISSING, MISSING)]
    for call in calls:
        with pytest.raises(Unsupported) as info:
            await call
        assert f"read-only origin {node.url}" in info.value.message
    assert staged.exists()
    assert origin.local_blob_path(MISSING) is None


def test_bad_base_url_is_a_config_error():
    with pytest.raises(ConfigError):
        RegistryOrigin("ftp://example.com")
    with pytest.raises(ConfigError):
        RegistryOrigin("http://")


def test_retry_after_forms():
    assert _retry_after("3") == 3
    assert _retry_after(None) == 1 and _retry_after("soon") == 1
    later = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < _retry_after(later) <= 30
