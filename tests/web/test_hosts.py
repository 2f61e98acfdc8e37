"""DNS rebinding: on loopback without a token, a request whose `Host` is not a loopback name is refused.

A web page the reviewer visits can rebind its own name to 127.0.0.1; the browser then sends that name in
`Host`, which is how the server tells the attacker's page from the reviewer's own tab.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from claimcourt.config import Settings
from claimcourt.web.app import create_app
from tests.review_support import reviews
from tests.web.test_pages import current_claim, sign_in
from tests.web_support import RUN_ID, web_settings, web_ws

__all__ = ["web_settings", "web_ws"]

FORGED = ("attacker.example:8765", "attacker.example", "127.0.0.1.nip.io:8765", "localhost.attacker.example")


@pytest.fixture
def client(web_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(web_settings), base_url="http://127.0.0.1:8765") as c:
        yield c


def test_a_forged_host_reads_and_decides_nothing(client: TestClient, web_ws: Path) -> None:
    csrf = sign_in(client)
    claim_id = current_claim(client.get(f"/runs/{RUN_ID}/review").text)
    for host in FORGED:
        headers = {"host": host}
        for path in (f"/runs/{RUN_ID}/claims", f"/runs/{RUN_ID}/review", "/"):
            got = client.get(path, headers=headers)
            assert got.status_code == 400, (host, path, got.text[:300])
            assert claim_id not in got.text
        posted = client.post(
            f"/runs/{RUN_ID}/decide",
            headers=headers,
            data={"csrf": csrf, "claim_id": claim_id, "key": "1", "note": "n", "shown_at": "2026-01-01T00:00:00+00:00"},
        )
        assert posted.status_code == 400, (host, posted.text[:300])
    assert reviews(web_ws) == []


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.1:8765", "localhost", "LOCALHOST:8765", "[::1]", "[::1]:8765"])
def test_loopback_names_are_served(client: TestClient, host: str) -> None:
    got = client.get(f"/runs/{RUN_ID}/claims", headers={"host": host})
    assert got.status_code == 200, got.text[:300]


def test_with_a_token_the_token_decides_whatever_the_host(web_settings: Settings) -> None:
    app = create_app(web_settings, token="s3cret-token")
    with TestClient(app, base_url="http://review.example.org") as client:
        assert client.get("/", headers={"host": "review.example.org"}).status_code == 401
        carried = client.get("/", headers={"host": "review.example.org", "X-Claimcourt-Token": "s3cret-token"})
        assert carried.status_code == 200
