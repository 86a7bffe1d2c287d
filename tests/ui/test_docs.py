"""docs/UI.md shows one screenshot of each page, and they are the files the screenshot script
makes (`python -m tests.ui.screenshots docs/ui/`), all committed."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ui_md_shows_every_screenshot_the_script_makes():
    shown = set(re.findall(r"!\[[^\]]*\]\(ui/([a-z-]+)\.png\)", (ROOT / "docs" / "UI.md").read_text()))
    made = set(re.findall(r'browser\.shot\("([a-z-]+)"', (ROOT / "tests" / "ui" / "screenshots.py").read_text()))
    files = {p.stem for p in (ROOT / "docs" / "ui").glob("*.png")}
    assert shown == made == files, (shown, made, files)
    assert {"login", "repositories", "tags", "image", "index", "referrer", "cache"} <= files
