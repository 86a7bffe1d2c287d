"""bench/load/dockerpull.registry_wait: the part of a `docker pull` spent waiting on the registry,
read from dockerd's debug log (the layer chain: each layer registered once downloaded and once
its parent is registered)."""
from __future__ import annotations

import pytest

from bench.load.dockerpull import registry_wait

A, B, C = ("sha256:" + c * 64 for c in "abc")


def line(stamp: str, msg: str) -> str:
    return f'time="2026-12-04T07:49:{stamp}" level=debug msg="{msg}"'


def log(*events: tuple[str, str]) -> str:
    return "\n".join(line(stamp, msg) for stamp, msg in events) + "\n"


START = ("10.000000000Z", "Calling POST /v1.41/images/create?fromImage=127.0.0.1%3A5000%2Fbench&tag=latest")


def test_the_first_layer_and_every_stall_of_the_chain_count_as_the_registry_s():
    text = log(START,
               ("10.050000000Z", 'pulling blob \\"' + A + '\\"'),
               ("10.100000000Z", f"Downloaded {A[7:19]} to tempfile /tmp/x/GetImageBlob1"),
               ("10.900000000Z", f"Downloaded {B[7:19]} to tempfile /tmp/x/GetImageBlob2"),
               ("11.000000000Z", "Applied tar sha256:1 to 1, size: 10"),   # A: B was already on disk
               ("12.000000000Z", "Applied tar sha256:2 to 2, size: 10"),   # B: C still downloading
               ("12.500000000Z", f"Downloaded {C[7:19]} to tempfile /tmp/x/GetImageBlob3"),
               ("13.500000000Z", "Applied tar sha256:3 to 3, size: 10"))
    registry, engine = registry_wait(text, [A, B, C])
    assert registry == pytest.approx(0.1 + 0.0 + 0.5)
    assert engine == pytest.approx(3.5 - 0.6)


def test_a_zone_offset_and_lines_that_are_not_events_are_read():
    text = ("some stray line without a time\n"
            + line("10.0+01:00", START[1]) + "\n"
            + line("10.25+01:00", f"Downloaded {A[7:19]} to tempfile /tmp/x/GetImageBlob1") + "\n"
            + line("11+01:00", "Applied tar sha256:1 to 1, size: 10") + "\n")
    assert registry_wait(text, [A]) == pytest.approx((0.25, 0.75))


@pytest.mark.parametrize("text", [
    log(("10.1Z", f"Downloaded {A[7:19]} to tempfile /tmp/x/1"), ("11Z", "Applied tar sha256:1 to 1, size: 1")),
    log(START, ("10.1Z", f"Downloaded {A[7:19]} to tempfile /tmp/x/1")),
    log(START, ("11Z", "Applied tar sha256:1 to 1, size: 1")),
    "",
], ids=["no start", "not registered", "not downloaded", "empty"])
def test_a_log_that_does_not_show_the_whole_pull_gives_none(text):
    assert registry_wait(text, [A]) is None
