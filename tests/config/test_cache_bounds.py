"""`[cache] link_ttl` and `[cache] purge_poll` range checks (config/checks.py): out of range is a
ConfigError naming the key and where it was set, the same as every other check."""
from __future__ import annotations

import pytest

from ocicache import config
from ocicache.config import ConfigError

CASES = [("OCICACHE_CACHE_LINK_TTL", "0", "[cache] link_ttl: must be more than 0 and at most 86400"),
         ("OCICACHE_CACHE_LINK_TTL", "90000", "[cache] link_ttl: must be more than 0 and at most 86400"),
         ("OCICACHE_CACHE_PURGE_POLL", "-1", "[cache] purge_poll: must be more than 0 and at most 600"),
         ("OCICACHE_CACHE_PURGE_POLL", "601", "purge journal entries are kept 3600 s")]


@pytest.mark.parametrize("name,value,says", CASES, ids=[f"{c[0]}={c[1]}" for c in CASES])
def test_out_of_range_is_refused_naming_the_source(name, value, says):
    with pytest.raises(ConfigError) as refused:
        config.load(env={name: value})
    assert f"{name}={value}: " in str(refused.value) and says in str(refused.value), str(refused.value)


def test_defaults_and_edges_are_taken():
    assert (config.load(env={}).cache.link_ttl, config.load(env={}).cache.purge_poll) == (60.0, 10.0)
    edge = config.load(env={"OCICACHE_CACHE_LINK_TTL": "86400", "OCICACHE_CACHE_PURGE_POLL": "600"})
    assert (edge.cache.link_ttl, edge.cache.purge_poll) == (86400.0, 600.0)
