"""`[server] backlog` (config/checks.py): 1 to 65535, refused outside naming where it was set."""
from __future__ import annotations

import pytest

from ocicache import config
from ocicache.config import ConfigError


@pytest.mark.parametrize("value", ["0", "-5", "65536"])
def test_out_of_range_is_refused_naming_the_source(value):
    with pytest.raises(ConfigError) as refused:
        config.load(env={"OCICACHE_SERVER_BACKLOG": value})
    said = str(refused.value)
    assert f"OCICACHE_SERVER_BACKLOG={value}: " in said and "[server] backlog: must be 1 to 65535" in said, said


def test_default_and_edges_are_taken():
    assert config.load(env={}).server.backlog == 1024
    assert config.load(env={"OCICACHE_SERVER_BACKLOG": "1"}).server.backlog == 1
    assert config.load(env={"OCICACHE_SERVER_BACKLOG": "65535"}).server.backlog == 65535
