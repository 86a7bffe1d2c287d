"""Micro-benchmarks of the per-request work: range copy, reference parsing, manifest cache
lookups and request routing. Each is measured beside its baseline in the same run: the
Cython routine beside its Python twin and the standard library; a cache hit beside the
origin read it saves; ocicache's routing beside aiohttp's own router.

Run: make bench   (or .venv/bin/python -m pytest bench -k micro --benchmark-only)
"""
from __future__ import annotations

import asyncio
import importlib
import os
import shutil

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from ocicache.hotpaths import _rangecopy_py
from ocicache.http import routes
from ocicache.origin.fs import FilesystemOrigin
from ocicache.reference import DIGEST_RE, Digest, check_name, parse_reference
from ocicache.oci import manifests
from ocicache.cache.manifests import ManifestCache

MIB = 1 << 20
DIGEST = "sha256:" + "ab" * 32
MANIFEST = (b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":'
            b'{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"' + DIGEST.encode() +
            b'","size":100},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar",'
            b'"digest":"' + DIGEST.encode() + b'","size":1048576}]}')


# ---- range copy: 1 MiB from the middle of a file into another file ----
def _copy_stdlib(in_fd: int, out_fd: int, in_offset: int, out_offset: int, count: int) -> int:
    with os.fdopen(os.dup(in_fd), "rb") as src, os.fdopen(os.dup(out_fd), "r+b") as dst:
        src.seek(in_offset)
        dst.seek(out_offset)
        shutil.copyfileobj(src, dst, count)
    return count


@pytest.fixture(params=["c", "python", "stdlib-copyfileobj"])
def copy_range(request):
    if request.param == "c":
        try:
            return importlib.import_module("ocicache.hotpaths._rangecopy_c").copy_range
        except ImportError:
            pytest.skip("ocicache.hotpaths._rangecopy_c was not built")
    return {"python": _rangecopy_py.copy_range, "stdlib-copyfileobj": _copy_stdlib}[request.param]


def test_range_copy_1mib(benchmark, copy_range, tmp_path):
    benchmark.group = "range copy 1 MiB (file to file)"
    src = tmp_path / "src"
    src.write_bytes(os.urandom(8 * MIB))
    in_fd = os.open(src, os.O_RDONLY)
    out_fd = os.open(tmp_path / "dst", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        benchmark(copy_range, in_fd, out_fd, 3 * MIB + 17, 0, MIB)
    finally:
        os.close(in_fd)
        os.close(out_fd)


# ---- reference parsing ----
@pytest.mark.parametrize("kind", ["ocicache-digest", "ocicache-tag", "ocicache-name", "stdlib-re-only"])
def test_reference_parsing(benchmark, kind):
    benchmark.group = "reference parsing"
    fn = {"ocicache-digest": lambda: Digest.parse(DIGEST),
          "ocicache-tag": lambda: parse_reference("v1.2.3"),
          "ocicache-name": lambda: check_name("library/some-app/web_server"),
          "stdlib-re-only": lambda: DIGEST_RE.fullmatch(DIGEST)}[kind]
    benchmark(fn)


# ---- manifest lookups: memory against the origin's files ----
@pytest.fixture(scope="module")
def origin_with_manifest(tmp_path_factory):
    origin = FilesystemOrigin(tmp_path_factory.mktemp("origin"))
    digest = Digest.parse("sha256:" + __import__("hashlib").sha256(MANIFEST).hexdigest())
    asyncio.run(origin.put_manifest("bench/app", digest, MANIFEST, "v1"))
    return origin, digest


@pytest.mark.parametrize("kind", ["cache-hit-by-digest", "cache-hit-by-tag", "cache-miss",
                                  "origin-read-and-parse", "origin-tag-read-and-parse"])
def test_manifest_lookup(benchmark, kind, origin_with_manifest):
    benchmark.group = "manifest lookup"
    origin, digest = origin_with_manifest
    cache: ManifestCache[object] = ManifestCache()
    cache.put("bench/app", digest, MANIFEST, len(MANIFEST))
    cache.set_tag("bench/app", "v1", digest)
    loop = asyncio.new_event_loop()

    def from_origin(by_tag: bool):
        d = loop.run_until_complete(origin.resolve_tag("bench/app", "v1")) if by_tag else digest
        return manifests.parse(loop.run_until_complete(origin.get_manifest("bench/app", d)))

    fn = {"cache-hit-by-digest": lambda: cache.get("bench/app", digest),
          "cache-hit-by-tag": lambda: cache.get("bench/app", cache.tag("bench/app", "v1")),
          "cache-miss": lambda: cache.get("bench/other", digest),
          "origin-read-and-parse": lambda: from_origin(False),
          "origin-tag-read-and-parse": lambda: from_origin(True)}[kind]
    try:
        benchmark(fn)
    finally:
        loop.close()


# ---- request routing ----
PATHS = {"blob": f"/v2/library/app/blobs/{DIGEST}", "manifest": "/v2/library/app/manifests/v1",
         "upload": "/v2/library/app/blobs/uploads/0123456789abcdef"}


def _ocicache_route(path: str, method: str):
    for pattern, methods in routes.ROUTES:
        match = pattern.fullmatch(path)
        if match is not None:
            check_name(match.group("name"))
            return methods[method], match.groupdict()
    return None


@pytest.fixture(scope="module")
def aiohttp_router():
    """aiohttp's own UrlDispatcher with the equivalent routes (names with slashes need `.+`)."""
    async def handler(request):  # pragma: no cover - never called
        return web.Response()
    app = web.Application()
    app.router.add_route("POST", r"/v2/{name:.+?}/blobs/uploads/", handler)
    app.router.add_route("PATCH", r"/v2/{name:.+?}/blobs/uploads/{upload_id}", handler)
    app.router.add_route("GET", r"/v2/{name:.+?}/blobs/{digest}", handler)
    app.router.add_route("GET", r"/v2/{name:.+?}/manifests/{reference}", handler)
    app.router.add_route("GET", r"/v2/{name:.+?}/tags/list", handler)
    app.freeze()
    return app


@pytest.mark.parametrize("route", list(PATHS))
@pytest.mark.parametrize("router", ["ocicache", "aiohttp-urldispatcher"])
def test_routing(benchmark, router, route, aiohttp_router):
    benchmark.group = f"routing: {route}"
    path = PATHS[route]
    method = "PATCH" if route == "upload" else "GET"
    if router == "ocicache":
        assert _ocicache_route(path, method) is not None
        benchmark(_ocicache_route, path, method)
        return
    loop = asyncio.new_event_loop()
    request = make_mocked_request(method, path, app=aiohttp_router)
    resolve = aiohttp_router.router.resolve

    def run():
        return loop.run_until_complete(resolve(request))
    try:
        assert run().http_exception is None
        benchmark(run)
    finally:
        loop.close()


def test_routing_event_loop_floor(benchmark):
    """What run_until_complete alone costs, to read the aiohttp router's figure against."""
    benchmark.group = "routing: event-loop floor"
    loop = asyncio.new_event_loop()

    async def nothing():
        return None
    try:
        benchmark(lambda: loop.run_until_complete(nothing()))
    finally:
        loop.close()

