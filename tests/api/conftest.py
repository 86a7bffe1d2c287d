"""Every API test runs against each origin that stores content: the local directory (the
embedded default) and S3 (the suite's S3 server, tests/conftest.py `s3server`), the latter behind the edge cache and with
write-through uploads. Tests that push content take `algo` too: each runs with sha256 and
with sha512 digests."""
from __future__ import annotations

import pytest

from ocicache import config

from ..conftest import s3_overrides


@pytest.fixture(params=["fs", pytest.param("s3", marks=pytest.mark.rgw)])  # s3: Ceph RGW
def cfg(request, tmp_path):
    if request.param == "fs":
        return config.load(env={}, overrides={"storage": {"data_dir": str(tmp_path / "data")}})
    return config.load(env={}, overrides=s3_overrides(request.getfixturevalue("s3server"), tmp_path / "data"))


@pytest.fixture(params=["sha256", "sha512"])
def algo(request):
    """The digest algorithm content is pushed under (tests/api/helpers.py takes it as `algo`)."""
    return request.param
