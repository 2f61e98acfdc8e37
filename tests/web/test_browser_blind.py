"""Blind review in a real browser (headless Chromium through Selenium) against `claimcourt serve`: what a
blind reviewer's screen shows, read back as the page's rendered text, and the keys the page offers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claimcourt.config import load_settings
from claimcourt.store import open_store
from tests.browser_support import Server, browsers
from tests.review_support import reviews
from tests.web.test_browser import by_css, press, press_and_wait_for_next, shown_claim, sign_in, wait
from tests.web_support import RUN_ID, web_ws

__all__ = ["browsers", "web_ws"]
pytestmark = pytest.mark.slow


@pytest.fixture
def server(web_ws: Path) -> Iterator[Server]:
    served = Server(web_ws)
    yield served
    served.close()


def confidences(workspace: Path) -> list[str]:
    """Every waiting claim's confidence as a page would print it."""
    with open_store(load_settings(overrides={"workspace": workspace}, environ={})) as store:
        states = [c.state() for c in store.ledger.claims(RUN_ID)]
    return [f"{s.verdict.confidence:.2f}" for s in states if s is not None and s.verdict is not None]


def page_text(browser: Any) -> str:
    return str(browser.execute_script("return document.body.innerText"))


def test_a_blind_reviewer_sees_no_verdict_in_the_review_screen_or_the_claims_list(
    browsers: Any, server: Server, web_ws: Path
) -> None:
    browser = browsers("bea")
    sign_in(browser, server.url, "bea", blind=True)
    first = shown_claim(browser)
    screen = page_text(browser)
    assert "hidden until you decide" in screen and "accept the Judge" not in screen
    marks = confidences(web_ws)
    assert [m for m in marks if m in screen] == []

    press(browser, "a")  # no button carries a: nothing is decided
    assert shown_claim(browser) == first and reviews(web_ws) == []
    second = press_and_wait_for_next(browser, "0")
    assert second != first
    assert "revealed after your decision" in by_css(browser, "#flash").text

    browser.get(server.url + f"runs/{RUN_ID}/claims")
    wait(browser, lambda b: "claim(s)" in page_text(b))
    listed = page_text(browser)
    assert "Judge" not in by_css(browser, "table.claims thead").text
    # The one claim bea decided is hers to see; no other claim's confidence is on the page.
    (row,) = reviews(web_ws)
    assert row["verdict_shown"] == 0
    assert [m for m in marks if m in listed] == []
