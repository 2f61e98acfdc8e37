"""Any id the input accepts is decided whole in the browser: long ids, ids with control characters,
markup, percent signs and slashes go through the review form, the lease renewal, the claim page and its revise form, and
the decision is saved under the exact id (never a silent no-op). The bulk sheet takes the same ids."""

from __future__ import annotations

import asyncio
import html as html_lib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.config import Settings, load_settings
from claimcourt.web.app import create_app
from tests.browser_support import Server
from tests.conftest import write_csv
from tests.review_support import counts, reviews
from tests.web.test_pages import sign_in

RUN = "long"
LONG_IDS = [
    "US" + "7" * 599,  # 601 characters: the id of the report
    "EP-" + "claim with spaces / and slashes %41 & ampersands " * 80 + "end",  # about 4,000
    "esc\x1b[2J bidi\u202e tab\tand <b>markup</b> &amp; \"quotes\" 'too'",
]
TEXTS = [
    "A photovoltaic module comprising solar cells and an inverter feeding a battery store.",
    "A wind turbine blade with a carbon fibre spar that lowers the weight of the rotor.",
    "A gearbox for a bicycle with a freewheel and a chain guard.",
]
BROWSER_COOKIE_LIMIT = 4096  # name=value, in bytes (RFC 6265's minimum, and what Chromium and Firefox keep)
HIDDEN_ID = re.compile(r'<form method="post" action="[^"]*/decide".*?name="claim_id" value="([^"]*)"', re.S)
RENEW_ID = re.compile(r"hx-vals='([^']*)'")


@pytest.fixture
def long_ws(indexed_settings: Settings, tmp_path: Path) -> Path:
    from claimcourt.jobs.runner import Runner
    from claimcourt.tables import ClaimTable

    batch = write_csv(tmp_path / "batch.csv", [{"id": i, "text": t} for i, t in zip(LONG_IDS, TEXTS, strict=True)])
    settings = load_settings(overrides={"workspace": indexed_settings.workspace, "threshold": 1.0}, environ={})
    asyncio.run(Runner(settings).run(ClaimTable(batch), run_id=RUN))
    assert counts(settings.workspace, RUN)["pending_review"] == len(LONG_IDS)
    return settings.workspace


@pytest.fixture
def client(long_ws: Path) -> Iterator[TestClient]:
    settings = load_settings(overrides={"workspace": long_ws}, environ={})
    with TestClient(create_app(settings), base_url="http://127.0.0.1") as c:
        yield c


def as_a_browser_sends(attribute: str) -> str:
    """A hidden field's value as a browser posts it: the HTML parser turns CR and CRLF into LF, and form
    submission turns every LF into CRLF."""
    value = html_lib.unescape(attribute).replace("\r\n", "\n").replace("\r", "\n")
    return value.replace("\n", "\r\n")


def test_every_long_or_odd_id_is_decided_whole_in_the_browser(client: TestClient, long_ws: Path) -> None:
    csrf = sign_in(client)
    posted: list[str] = []
    for _ in LONG_IDS:
        page = client.get(f"/runs/{RUN}/review").text
        found = HIDDEN_ID.search(page)
        assert found, page[:2000]
        claim_id = as_a_browser_sends(found.group(1))
        renew = html_lib.unescape(RENEW_ID.search(page).group(1))  # type: ignore[union-attr]
        renewed = client.post(f"/runs/{RUN}/renew", data=_json_form(renew))
        assert renewed.status_code == 204, renewed.text
        done = client.post(
            f"/runs/{RUN}/decide",
            data={"csrf": csrf, "claim_id": claim_id, "key": "1", "note": "green", "shown_at": "2026-01-01T00:00:00Z"},
        )
        assert done.status_code == 200 and 'class="flash saved"' in done.text, done.text[:3000]
        # A browser ignores a larger cookie, and with it the message saying what was saved.
        cookies = [c.split(";")[0] for c in done.history[0].headers.get_list("set-cookie")]
        assert cookies and all(len(c) <= BROWSER_COOKIE_LIMIT for c in cookies), claim_id[:80]
        posted.append(claim_id)
    assert sorted(r["claim_id"] for r in reviews(long_ws)) == sorted(LONG_IDS)
    assert counts(long_ws, RUN)["pending_review"] == 0


def test_the_claim_page_and_its_revise_form_take_the_whole_id(long_ws: Path) -> None:
    """Against `claimcourt serve` itself: Starlette's test client decodes a path twice (`%2541` comes
    out as `A`), a real server once."""
    import httpx

    server = Server(long_ws)
    try:
        with httpx.Client(base_url=server.url.rstrip("/"), follow_redirects=True, timeout=60) as client:
            _decide_and_revise_each(client)
    finally:
        server.close()
    labels = {r["claim_id"]: r["label"] for r in reviews(long_ws)}
    assert labels == dict.fromkeys(LONG_IDS, 0)


def _decide_and_revise_each(client: Any) -> None:
    csrf = sign_in(client)
    for _ in LONG_IDS:
        page = client.get(f"/runs/{RUN}/review").text
        claim_id = as_a_browser_sends(HIDDEN_ID.search(page).group(1))  # type: ignore[union-attr]
        client.post(f"/runs/{RUN}/decide", data={"csrf": csrf, "claim_id": claim_id, "key": "1", "note": "n"})
    listed = client.get(f"/runs/{RUN}/claims").text
    links = [html_lib.unescape(h) for h in re.findall(r'href="(/runs/long/claims/[^"]+)"', listed)]
    assert sorted(links) == sorted(f"/runs/{RUN}/claims/{quote(claim_id, safe='')}" for claim_id in LONG_IDS)
    for link in links:
        page = client.get(link)
        assert page.status_code == 200, (link[:80], page.text[-800:])
        form_id = re.search(r'id="revise-form".*?name="claim_id" value="([^"]*)"', page.text, re.S)
        assert form_id, page.text[-3000:]
        revised = client.post(
            f"/runs/{RUN}/revise",
            data={"csrf": csrf, "claim_id": as_a_browser_sends(form_id.group(1)), "key": "0", "note": "not green"},
        )
        assert revised.status_code == 200 and 'class="flash saved"' in revised.text, revised.text[:3000]


def test_an_id_that_is_not_in_the_run_is_an_error_never_a_silent_no_op(client: TestClient, long_ws: Path) -> None:
    csrf = sign_in(client)
    truncated = LONG_IDS[0][:500]
    done = client.post(f"/runs/{RUN}/decide", data={"csrf": csrf, "claim_id": truncated, "key": "1", "note": "n"})
    assert done.status_code == 200 and "not saved" in done.text, done.text[:3000]
    assert reviews(long_ws) == []


def test_the_bulk_sheet_takes_the_same_ids(long_ws: Path, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "sheet.csv", [{"id": i, "label": 1, "note": "bulk"} for i in LONG_IDS])
    args = ["review", "--from", str(sheet), "--shown", "--reviewer", "bob", "-w", str(long_ws), "--run-id", RUN]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(r["claim_id"] for r in reviews(long_ws)) == sorted(LONG_IDS)


def _json_form(vals: str) -> dict[str, Any]:
    import json

    return {k: as_a_browser_sends(v) if k == "claim_id" else v for k, v in json.loads(vals).items()}
