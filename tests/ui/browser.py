"""Headless Chromium from Debian (`chromium`, `chromium-driver`) driven by Selenium.

The driver is given by path, so Selenium Manager never looks for (or downloads) one, and the
flags keep Chromium from calling home on a machine with no network. One browser per test
module (`conftest.browser`); `Browser.shot(name)` saves a PNG in the module's folder.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait
except ModuleNotFoundError:  # `missing()` says so; the tests skip (or fail in CI)
    webdriver = None

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--window-size=1280,900", "--hide-scrollbars")


def missing() -> str | None:
    """Why no browser can run here (None: it can)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            return f"{path} is missing (Debian packages chromium and chromium-driver; `make system-deps` installs them)"
    if webdriver is None:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


class Browser:
    def __init__(self, shots: Path) -> None:
        os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never fetch a driver or a browser
        self.profile = Path(tempfile.mkdtemp(prefix="ocicache-chromium-"))
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={self.profile}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP violations land there
        self.shots = Path(shots)
        self.shots.mkdir(parents=True, exist_ok=True)
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(30)

    def get(self, url: str) -> None:
        self.driver.get(url)

    def text(self, css: str = "body") -> str:
        return self.driver.find_element(By.CSS_SELECTOR, css).text

    def all(self, css: str) -> list:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def one(self, css: str):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def submit(self, css: str) -> None:
        """Click a form's button and wait for the page it leads to (a click does not wait)."""
        button = self.one(css)
        button.click()
        self._loaded(button)

    def follow(self, element) -> None:
        """Click a link and wait for the next page."""
        element.click()
        self._loaded(element)

    def _loaded(self, old) -> None:
        wait = WebDriverWait(self.driver, 20)
        wait.until(expected_conditions.staleness_of(old))
        wait.until(lambda driver: driver.execute_script("return document.readyState") == "complete")

    def console(self) -> list[str]:
        """The console messages since last asked (a CSP violation is one)."""
        return [entry["message"] for entry in self.driver.get_log("browser")]

    def shot(self, name: str, full_page: bool = False) -> Path:
        path = self.shots / f"{name}.png"
        if full_page:  # grow the window to the page's height, then back
            size = self.driver.get_window_size()
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            frame = self.driver.execute_script("return window.outerHeight - window.innerHeight")
            self.driver.set_window_size(size["width"], min(max(height + frame + 40, 300), 4000))
            self.driver.save_screenshot(str(path))
            self.driver.set_window_size(size["width"], size["height"])
        else:
            self.driver.save_screenshot(str(path))
        return path

    def close(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)
