"""The web app at the HTTP level (Starlette's test client): every route, the token, CSRF, escaping."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from claimcourt.config import Settings
from claimcourt.web.app import create_app
from tests.review_support import counts, reviews
from tests.web_support import RUN_ID, SCRIPT_ID, csrf_of, web_settings, web_ws

__all__ = ["web_settings", "web_ws"]


@pytest.fixture
def client(web_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(web_settings), base_url="http://127.0.0.1") as c:
        yield c


def sign_in(client: TestClient, name: str = "ann", *, blind: bool = False) -> str:
    page = client.get("/")
    assert page.status_code == 200
    form = {"csrf": csrf_of(page.text), "name": name, "next": ""}
    if blind:
        form["blind"] = "on"
    done = client.post("/signin", data=form)
    assert done.status_code == 200, done.text  # followed the redirect
    return csrf_of(done.text)


def current_claim(html: str) -> str:
    found = re.search(r'name="claim_id" value="([^"]*)"', html)
    assert found, html[:3000]
    return found.group(1)


def test_runs_page_lists_the_run_with_its_counts(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "r1" in page.text and "Runs" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'none'")


def test_review_needs_a_name_then_shows_the_lowest_confidence_claim(client: TestClient) -> None:
    page = client.get(f"/runs/{RUN_ID}/review")
    assert "Sign in to review" in page.text
    sign_in(client)
    page = client.get(f"/runs/{RUN_ID}/review")
    assert page.status_code == 200
    assert current_claim(page.text)
    assert "accept Judge" in page.text
