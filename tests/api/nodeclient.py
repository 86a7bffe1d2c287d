"""The API suite's client for a real node process: the part of aiohttp's TestClient interface that
tests/api uses (get/head/post/put/patch/delete/request with relative paths, `make_url`, and
`session.request/get/put` with raw URLs from helpers.raw_url), over HTTP to a
`python -m ocicache serve` process, with a new TCP connection per request (`force_close`), so
consecutive requests of one test land on whichever worker process accepts them.

One node serves many tests, so each test gets its own namespace: every repository name it sends
(in the path, and the `from` of a cross-repository mount) is prefixed with `<namespace>/`, and the
prefix is taken off again where the node names a repository back to the client: `Location` and
`Link` headers and the `name` of a tag listing. Nothing else of a response is changed. A client
without a namespace (a node of its own, for catalog tests) sends and answers everything as is.

Responses are read whole when they arrive (they are small in this suite), so no connection is
left open by a test that looks only at the status."""
from __future__ import annotations

import json
import re
import time

import aiohttp
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

_JSON_TYPE = re.compile(r"^application/(?:[\w.+-]+?\+)?json")  # what aiohttp's json() accepts by default
_TAG_LIST = re.compile(r"^/v2/.+/tags/list$")
_RENAMED_HEADERS = ("Location", "Link")


class Reply:
    """A response read whole: `status`, `headers`, `read()`, `text()`, `json()` as aiohttp's."""

    def __init__(self, status: int, headers: CIMultiDictProxy, body: bytes, encoding: str) -> None:
        self.status = status
        self.headers = headers
        self._body = body
        self._encoding = encoding

    async def read(self) -> bytes:
        return self._body

    async def text(self, encoding: str | None = None) -> str:
        return self._body.decode(encoding or self._encoding)

    async def json(self, *, content_type: str | None = "application/json"):
        if content_type:
            got = self.headers.get("Content-Type", "").lower()
            expected = _JSON_TYPE.match(got) if content_type == "application/json" else content_type in got
            if not expected:
                raise aiohttp.ContentTypeError(None, (), status=self.status, headers=self.headers,
                                               message=f"Attempt to decode JSON with unexpected mimetype: {got}")
        stripped = self._body.strip()
        return json.loads(stripped.decode(self._encoding)) if stripped else None


class Namespace:
    """Rewrites repository names into `<prefix>/...` on the way out and back on the way in."""

    def __init__(self, prefix: str | None) -> None:
        self.prefix = prefix

    def path(self, raw_path: str) -> str:
        """/v2/<name>/... -> /v2/<prefix>/<name>/... (the base and _catalog endpoints unchanged)."""
        if not self.prefix or not raw_path.startswith("/v2/"):
            return raw_path
        rest = raw_path[len("/v2/"):]
        if rest == "" or rest.startswith("_catalog"):
            return raw_path
        return f"/v2/{self.prefix}/{rest}"

    def params(self, params):
        if not self.prefix or not params or not params.get("from"):
            return params
        return {**params, "from": f"{self.prefix}/{params['from']}"}

    def back(self, text: str) -> str:
        return text.replace(f"/v2/{self.prefix}/", "/v2/") if self.prefix else text

    def headers(self, headers) -> CIMultiDictProxy:
        out = CIMultiDict(headers)
        for name in _RENAMED_HEADERS:
            if name in out:
                out[name] = self.back(out[name])
        return CIMultiDictProxy(out)

    def body(self, method: str, raw_path: str, status: int, body: bytes) -> bytes:
        """The `name` of a tag listing without the prefix (the only body that names the repository)."""
        if not self.prefix or method != "GET" or status != 200 or not _TAG_LIST.match(raw_path):
            return body
        listing = json.loads(body)
        listing["name"] = listing["name"].removeprefix(self.prefix + "/")
        return json.dumps(listing).encode()


class NodeSession:
    """`request(method, url, **kwargs)` as aiohttp's, for relative paths and raw absolute URLs of
    the node; the path is sent byte for byte after the namespace rewrite.

    Every request goes over a new connection. With `alternate` (a node of several workers), each
    new connection is first asked which worker accepted it (GET /healthz on it answers the pid),
    and a request goes only over one that reached another worker than the previous request's (one
    that reached the same worker is kept for the next request): consecutive requests of a test
    never share a worker's memory, so a worker answering from what it kept before another one
    acknowledged a write is seen every time, not by luck of the kernel's choice."""

    def __init__(self, base_url: str, namespace: Namespace, alternate: bool = False) -> None:
        self.base_url = base_url.rstrip("/")
        self.namespace = namespace
        self.alternate = alternate
        self.upload_locations: dict[str, str] = {}  # upload id -> its latest Location
        self.pids: list[int] = []  # the worker of each request, with `alternate`
        self._spares: dict[int, _WorkerConnection] = {}  # probed, not yet used: one per worker
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True))

    def _url(self, url) -> tuple[yarl.URL, str]:
        url = yarl.URL(self.base_url + url) if isinstance(url, str) else url  # as TestClient.make_url
        raw_path = self.namespace.path(url.raw_path)
        query = f"?{url.raw_query_string}" if url.raw_query_string else ""
        return yarl.URL(f"{self.base_url}{raw_path}{query}", encoded=True), raw_path

    async def request(self, method: str, url, *, params=None, **kwargs) -> Reply:
        target, raw_path = self._url(url)
        params = self.namespace.params(params)
        if self.alternate:
            status, headers, body, encoding = await self._on_another_worker(method, target, params, kwargs)
        else:
            status, headers, body, encoding = await _send(self._session, method, target, params, kwargs)
        if "Docker-Upload-UUID" in headers and "Location" in headers:
            self.upload_locations[headers["Docker-Upload-UUID"]] = headers["Location"]
        return Reply(status, self.namespace.headers(headers),
                     self.namespace.body(method, raw_path, status, body), encoding)

    async def _on_another_worker(self, method: str, target: yarl.URL, params, kwargs):
        previous = self.pids[-1] if self.pids else None
        for _ in range(_CONNECT_TRIES):
            connection = self._spares.pop(next((p for p in self._spares if p != previous), None), None)
            if connection is not None and time.monotonic() - connection.at > SPARE_MAX_AGE:
                await connection.session.close()  # the node may have closed it idle: not that worker's
                connection = None
            if connection is None:
                connection = await _WorkerConnection.open(self.base_url)
                if connection.pid == previous:  # the next request wants this worker: kept for it
                    await self._spare(connection)
                    continue
            try:
                sent = await _send(connection.session, method, target, params, kwargs)
                connection.check_one()
            finally:
                await connection.session.close()
            self.pids.append(connection.pid)
            return sent
        raise RuntimeError(f"{_CONNECT_TRIES} new connections to {self.base_url} all reached worker {previous}; "
                           "is the node running with one worker?")

    async def _spare(self, connection: "_WorkerConnection") -> None:
        old = self._spares.pop(connection.pid, None)
        if old is not None:
            await old.session.close()
        self._spares[connection.pid] = connection

    async def get(self, url, **kwargs) -> Reply:
        return await self.request("GET", url, **kwargs)

    async def put(self, url, **kwargs) -> Reply:
        return await self.request("PUT", url, **kwargs)

    async def close(self) -> None:
        """Cancel the upload sessions the test left open (so the node's uploads directory holds
        only the next test's), then close."""
        for location in self.upload_locations.values():
            path = yarl.URL(location).raw_path_qs if location.startswith("http") else location
            async with self._session.delete(yarl.URL(self.base_url + path, encoded=True)) as resp:
                await resp.read()
        for spare in self._spares.values():
            await spare.session.close()
        await self._session.close()


class _WorkerConnection:
    """A session of one new connection, asked which worker accepted it (GET /healthz: its pid)."""

    def __init__(self, session: aiohttp.ClientSession, opened: list) -> None:
        self.session = session
        self.pid = 0
        self._opened = opened
        self.at = time.monotonic()  # when it was probed

    @classmethod
    async def open(cls, base_url: str) -> "_WorkerConnection":
        opened: list[int] = []

        async def count(*_args) -> None:
            opened.append(1)

        tracing = aiohttp.TraceConfig()
        tracing.on_connection_create_end.append(count)
        connection = cls(aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1), trace_configs=[tracing]),
                         opened)
        try:
            async with connection.session.get(base_url + "/healthz") as probe:
                connection.pid = (await probe.json())["pid"]
        except BaseException:
            await connection.session.close()
            raise
        return connection

    def check_one(self) -> None:
        assert len(self._opened) == 1, "a request did not go over the connection its worker was asked on"


SPARE_MAX_AGE = 5.0  # seconds a probed connection is kept for later: well within the node's idle_timeout
_CONNECT_TRIES = 30  # with two workers, 30 connections all reaching the same one: odds 1 in 2**30


async def _send(session: aiohttp.ClientSession, method: str, target: yarl.URL, params, kwargs):
    """(status, headers, body, encoding) of one request, read whole."""
    async with session.request(method, target, params=params, **kwargs) as resp:
        body = await resp.read()
        return resp.status, resp.headers, body, resp.get_encoding() if body else "utf-8"


class NodeClient:
    """What tests/api calls on `client`, for a node at `base_url`; see the module docstring."""

    def __init__(self, base_url: str, namespace: str | None = None, alternate: bool = False) -> None:
        self.session = NodeSession(base_url, Namespace(namespace), alternate)

    def make_url(self, path: str) -> yarl.URL:
        return yarl.URL(self.session.base_url + path)

    async def request(self, method: str, path: str, **kwargs) -> Reply:
        return await self.session.request(method, path, **kwargs)

    async def get(self, path: str, **kwargs) -> Reply:
        return await self.request("GET", path, **kwargs)

    async def head(self, path: str, **kwargs) -> Reply:
        return await self.request("HEAD", path, **kwargs)

    async def post(self, path: str, **kwargs) -> Reply:
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs) -> Reply:
        return await self.request("PUT", path, **kwargs)

    async def patch(self, path: str, **kwargs) -> Reply:
        return await self.request("PATCH", path, **kwargs)

    async def delete(self, path: str, **kwargs) -> Reply:
        return await self.request("DELETE", path, **kwargs)

    async def close(self) -> None:
        await self.session.close()
