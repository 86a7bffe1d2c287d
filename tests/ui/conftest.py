"""Fixtures of the browser tests: one headless Chromium per test module, its screenshots in
a temporary folder of that module, and nodes started per module (tests/nodeproc.py)."""
from __future__ import annotations

import os

import pytest

from .browser import Browser, missing


@pytest.fixture(scope="module")
def browser(request, tmp_path_factory):
    why = missing()
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    shots = tmp_path_factory.mktemp(f"shots-{request.module.__name__.rsplit('.', 1)[-1]}")
    driver = Browser(shots)
    yield driver
    driver.close()
