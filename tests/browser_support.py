"""A real browser for the web tests: Debian's headless Chromium driven by Selenium through Debian's
chromedriver, against `claimcourt serve` started as its own process on a free loopback port.

Missing Chromium or chromedriver skips the tests, unless CLAIMCOURT_REQUIRE_SERVICES=1 (CI), where it
fails them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.review_support import CLAIMCOURT, cli_env

# Read at import: the autouse fixture clears CLAIMCOURT_* variables inside each test.
REQUIRE_SERVICES = os.environ.get("CLAIMCOURT_REQUIRE_SERVICES") == "1"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
SOURCES = Path(__file__).resolve().parents[1] / "src"
ADDRESS = re.compile(r"review page at (http://\S+)")


def service_missing(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (CLAIMCOURT_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def browser_binaries() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        service_missing("Chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        service_missing("selenium is not installed")
    assert chromium is not None and driver is not None
    return chromium, driver


class Server:
    """`claimcourt serve` in its own process; `url` is where it listens."""

    def __init__(self, workspace: Path, *args: str) -> None:
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (closed in stop)
        env = cli_env()
        # This checkout's code, whatever the test's working directory (the tests run in a temporary one).
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SOURCES), env.get("PYTHONPATH", "")) if p)
        self.proc = subprocess.Popen(
            [str(CLAIMCOURT), "serve", "--port", "0", "--workspace", str(workspace), *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
        )
        self.url = self._wait_for_address()

    def output(self) -> str:
        if self.log.closed:
            return self.final_output
        self.log.seek(0)
        return self.log.read()

    def _wait_for_address(self, timeout: float = 300) -> str:  # a bound for a server that never starts
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = ADDRESS.search(self.output())
            if found:
                return found.group(1)
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"claimcourt serve did not start:\n{self.output()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self) -> None:
        self.stop()
        if not self.log.closed:
            self.final_output = self.output()
            self.log.close()


def new_browser(tmp_path: Path, name: str, size: tuple[int, int] = (1280, 800)) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = browser_binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tmp_path / f"chromium-{name}"
    profile.mkdir()
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={size[0]},{size[1]}")
    try:
        browser = webdriver.Chrome(options=options, service=Service(driver))
    except Exception as exc:  # the binary is there but cannot start (a broken install)
        service_missing(f"Chromium did not start: {exc}")
        raise
    browser.set_page_load_timeout(60)
    return browser


@pytest.fixture
def browsers(tmp_path: Path) -> Iterator[Any]:
    """A factory of browsers, every one quit at the end of the test."""
    opened: list[Any] = []

    def make(name: str, size: tuple[int, int] = (1280, 800)) -> Any:
        opened.append(new_browser(tmp_path, name, size))
        return opened[-1]

    browser_binaries()
    yield make
    for browser in opened:
        browser.quit()
