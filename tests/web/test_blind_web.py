"""Blind review on the web page, view by view (HTTP through Starlette's test client): the claims list, its
search, a claim's page, the review screen and the exports never carry the Judge's verdict, confidence or
rationale, nor others' labels, of a claim the reviewer has not decided; audit claims are blind too in a
seeing session. Asserted on the HTML bodies the browser would receive."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from claimcourt.config import Settings
from claimcourt.jobs.runner import Runner
from claimcourt.state import ClaimState
from claimcourt.store import open_store
from claimcourt.tables import ClaimTable
from claimcourt.web.app import create_app
from tests.conftest import write_csv
from tests.review_support import reviews
from tests.web.test_pages import current_claim, sign_in
from tests.web_support import RUN_ID, web_settings, web_ws

__all__ = ["web_settings", "web_ws"]


@pytest.fixture
def client(web_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(web_settings), base_url="http://127.0.0.1") as c:
        yield c


def states_of(settings: Settings, run_id: str = RUN_ID) -> list[ClaimState]:
    with open_store(settings) as store:
        return [s for c in store.ledger.claims(run_id) if (s := c.state()) is not None]


def verdict_traces(states: list[ClaimState]) -> list[str]:
    """What of the Judge could show in the HTML: each confidence as the pages print it (2 decimals and as a
    meter value), each rationale's opening words, and the verdict paragraph's markup."""
    marks = ['class="verdict"', '<th class="n">Judge confidence']
    for state in states:
        assert state.verdict is not None
        marks += [f">{state.verdict.confidence:.2f}<", f'value="{state.verdict.confidence}"']
        if state.verdict.rationale:
            marks.append(state.verdict.rationale[:40])
    return marks


def leaked(page: str, states: list[ClaimState]) -> list[str]:
    return [mark for mark in verdict_traces(states) if mark in page]


def decide(client: TestClient, csrf: str, claim_id: str, key: str, note: str = "", run_id: str = RUN_ID) -> str:
    page = client.post(
        f"/runs/{run_id}/decide",
        data={"csrf": csrf, "claim_id": claim_id, "key": key, "note": note, "shown_at": "2026-01-01T00:00:00+00:00"},
    )
    assert page.status_code == 200, page.text
    return page.text


def table_of(page: str) -> str:
    found = re.search(r"<table class=\"claims\">.*?</table>", page, re.S)
    assert found, page[:2000]
    return found.group(0)


def test_a_blind_reviewers_claims_list_and_search_carry_no_verdict(client: TestClient, web_settings: Settings) -> None:
    states = states_of(web_settings)
    sign_in(client, "bea", blind=True)
    listed = client.get(f"/runs/{RUN_ID}/claims")
    assert listed.status_code == 200
    table = table_of(listed.text)
    assert "<th>yours</th>" in table and "<th>Judge</th>" not in table
    assert leaked(listed.text, states) == [] and "GREEN" not in table
    searched = client.get(f"/runs/{RUN_ID}/claims", params={"q": "comprising"})
    assert searched.status_code == 200 and "claim(s)" in searched.text
    assert leaked(searched.text, states) == [] and "GREEN" not in table_of(searched.text)


def test_a_seeing_reviewer_gets_the_judge_column_and_their_own_label(client: TestClient, web_ws: Path) -> None:
    csrf = sign_in(client, "cleo")
    claim_id = current_claim(client.get(f"/runs/{RUN_ID}/review").text)
    decide(client, csrf, claim_id, "1", note="reads as a solar cell")
    table = table_of(client.get(f"/runs/{RUN_ID}/claims").text)
    assert "<th>Judge</th>" in table and "Judge confidence" in table
    row = next(r for r in table.split("<tr>") if f"/claims/{quote(claim_id, safe='')}" in r)
    assert "<td>GREEN</td>" in row  # the person's own label, in its column
    assert len(reviews(web_ws)) == 1


def test_a_blind_reviewers_claim_page_hides_the_verdict_and_others_labels_until_they_decide(
    client: TestClient, web_settings: Settings
) -> None:
    states = states_of(web_settings)
    # ann decides a claim, seeing the Judge; bea, blind, opens it: neither the verdict nor ann's label shows.
    ann_csrf = sign_in(client, "ann")
    decided = current_claim(client.get(f"/runs/{RUN_ID}/review").text)
    decide(client, ann_csrf, decided, "1", note="a photovoltaic module")
    client.post("/signout", data={"csrf": ann_csrf})
    sign_in(client, "bea", blind=True)
    for claim_id in (decided, states[-1].claim_id):
        page = client.get(f"/runs/{RUN_ID}/claims/{quote(claim_id, safe='')}")
        assert page.status_code == 200
        assert "hidden until you decide" in page.text
        assert leaked(page.text, states) == [], claim_id
    others = client.get(f"/runs/{RUN_ID}/claims/{quote(decided, safe='')}").text
    assert "a photovoltaic module" not in others and "other people's decisions are hidden" in others


def test_exports_are_not_offered_during_a_blind_session(client: TestClient) -> None:
    sign_in(client, "bea", blind=True)
    assert f"/runs/{RUN_ID}/export" not in client.get(f"/runs/{RUN_ID}/claims").text  # not even offered
    assert client.get(f"/runs/{RUN_ID}/export").status_code == 403
    download = client.get(f"/runs/{RUN_ID}/export/gold.csv")
    assert download.status_code == 403 and "blind" in download.text


def test_an_audit_claim_is_blind_in_a_seeing_session_until_decided(
    client: TestClient, web_settings: Settings, tmp_path: Path
) -> None:
    # A run whose every claim the Judge decides alone (threshold 0.5) and every one is drawn for audit.
    originals = states_of(web_settings)[:2]
    batch = write_csv(tmp_path / "audit.csv", [{"id": s.claim_id, "text": s.text} for s in originals])
    settings = web_settings.model_copy(update={"threshold": 0.5, "audit_rate": 1.0})
    asyncio.run(Runner(settings).run(ClaimTable(batch), run_id="audits"))
    audits = states_of(web_settings, "audits")
    assert audits and all(s.audit for s in audits)

    csrf = sign_in(client, "dan")  # not blind
    page = client.get("/runs/audits/review").text
    claim_id = current_claim(page)
    assert "hidden until you decide" in page and leaked(page, audits) == []
    assert 'data-key="a"' not in page  # accepting the Judge is not offered on a blind audit
    listed = client.get("/runs/audits/claims").text
    # A seeing session has the Judge's column; on a blind audit its cells say hidden.
    assert [m for m in leaked(listed, audits) if not m.startswith("<th")] == [] and ">hidden<" in table_of(listed)
    refused = decide(client, csrf, claim_id, "a", run_id="audits")
    assert "not offered in blind review" in refused, re.findall(r'id="flash">([^<]*)', refused)
    saved = decide(client, csrf, claim_id, "0", run_id="audits")
    assert "revealed after your decision" in saved
    with open_store(settings) as store:
        (row,) = store.reviews.active(run_id="audits")
    assert not row.verdict_shown
    # Once decided, its verdict is the reviewer's to see.
    opened = client.get(f"/runs/audits/claims/{quote(claim_id, safe='')}").text
    assert "hidden until you decide" not in opened and 'class="verdict"' in opened
