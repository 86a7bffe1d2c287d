"""Log lines: the record formatter and the access log's short way write the same line, in JSON
and in text, and the short way writes a loop turn's lines in one write."""
from __future__ import annotations

import asyncio
import io
import json
import logging
import sys

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ocicache.metrics import loglines
from ocicache.http.access import access
from ocicache.service import logs


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    loglines.install(None)


def record(msg: str, fields: dict | None = None, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("disk on fire")
        except ValueError:
            exc_info = sys.exc_info()
    rec = logging.LogRecord("ocicache.access", logging.INFO, __file__, 1, msg, None, exc_info)
    if fields is not None:
        rec.fields = fields
    return rec


def test_json_line_has_the_fields_as_keys_and_renames_reserved_ones():
    rec = record("GET /v2/ 200", {"status": 200, "repo": "a/b", "time": "clash", "obj": object})
    out = json.loads(logs.LineFormatter("json").format(rec))
    assert out["msg"] == "GET /v2/ 200" and out["level"] == "info" and out["logger"] == "ocicache.access"
    assert out["status"] == 200 and out["repo"] == "a/b" and out["pid"] == rec.process
    assert out["field_time"] == "clash" and out["time"].endswith("Z") and out["time"] != "clash"
    assert out["obj"] == str(object)  # anything else is written as its text, never refused


def test_json_time_is_utc_to_the_millisecond():
    line = loglines.line("json", 1_700_000_000.25, "INFO", "x", "m", 1)
    assert json.loads(line)["time"] == "2023-11-14T22:13:20.250Z"


def test_exception_is_kept_in_both_formats():
    rec = record("failed", exc=True)
    assert "disk on fire" in json.loads(logs.LineFormatter("json").format(rec))["exception"]
    text = logs.LineFormatter("text").format(record("failed", {"repo": "a/b", "tag": None}, exc=True))
    assert "INFO ocicache.access[" in text and "disk on fire" in text and text.endswith(" repo=a/b")


def test_short_way_writes_what_the_formatter_writes(restore_logging):
    for fmt in ("json", "text"):
        stream = CountingStream()
        logs.setup("INFO", fmt, stream)
        fields = {"status": 404, "repo": "lib/x", "digest": None}
        logging.getLogger("ocicache.access").info("GET /v2/lib/x 404", extra={"fields": fields})
        loglines.fast_lines().write("INFO", "ocicache.access", "GET /v2/lib/x 404", fields)  # no loop: at once
        via_record, via_lines = stream.getvalue().splitlines()
        if fmt == "json":
            via_record, via_lines = json.loads(via_record), json.loads(via_lines)
            assert via_record.pop("time")[:4] == via_lines.pop("time")[:4]  # the rest may cross a second
        else:
            assert via_record.split(" ", 2)[2] == via_lines.split(" ", 2)[2]  # all but the time
        assert via_record == via_lines


async def test_a_loop_turns_lines_leave_in_one_write(restore_logging):
    stream = CountingStream()
    logs.setup("INFO", "json", stream)
    lines = loglines.fast_lines()
    for n in range(3):
        lines.write("INFO", "ocicache.access", f"GET /{n} 200", {"n": n})
    assert stream.writes == 0  # waiting for the end of this turn
    await asyncio.sleep(0)
    assert stream.writes == 1
    assert [json.loads(x)["n"] for x in stream.getvalue().splitlines()] == [0, 1, 2]


async def test_access_middleware_writes_through_the_short_way_at_the_set_level(restore_logging):
    stream = CountingStream()
    logs.setup("INFO", "json", stream)
    app = web.Application(middlewares=[access])

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="fine")

    app.router.add_get("/v2/", ok)
    app.router.add_get("/healthz", ok)
    async with TestClient(TestServer(app)) as client:
        for path in ("/v2/", "/healthz", "/v2/"):
            assert (await client.get(path)).status == 200
        await asyncio.sleep(0)
    lines = [x for x in map(json.loads, stream.getvalue().splitlines()) if x["logger"] == "ocicache.access"]
    assert [(x["route"], x["status"], x["bytes"]) for x in lines] == [("base", 200, 4)] * 2  # healthz is DEBUG
    logs.set_level("DEBUG")
    async with TestClient(TestServer(app)) as client:
        assert (await client.get("/healthz")).status == 200
        await asyncio.sleep(0)
    last = [x for x in map(json.loads, stream.getvalue().splitlines()) if x["logger"] == "ocicache.access"][-1]
    assert last["route"] == "healthz"
