"""The web app at the HTTP level (Starlette's test client): every route, the token, CSRF, escaping."""

from __future__ import annotations

import asyncio
import csv
import html as html_lib
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from claimcourt.config import Settings
from claimcourt.review.desk import ReviewDesk
from claimcourt.web.app import create_app
from tests.review_support import counts, reviews
from tests.web_support import RUN_ID, SCRIPT_ID, csrf_of, web_settings, web_ws

__all__ = ["web_settings", "web_ws"]


@pytest.fixture
def client(web_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(web_settings), base_url="http://127.0.0.1") as c:
        yield c


class SecondBrowser:
    """Another browser on the same running app: its own cookies, the same client (one event loop, the
    one the app's desks were opened on)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.jar = type(client.cookies)()

    def _send(self, method: str, url: str, **kwargs: Any) -> Any:
        theirs = self.client.cookies
        self.client.cookies = self.jar
        try:
            return self.client.request(method, url, **kwargs)
        finally:
            self.jar = self.client.cookies
            self.client.cookies = theirs

    def get(self, url: str, **kwargs: Any) -> Any:
        return self._send("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Any:
        return self._send("POST", url, **kwargs)


def second_browser(client: TestClient) -> Any:
    return SecondBrowser(client)


def sign_in(client: Any, name: str = "ann", *, blind: bool = False) -> str:
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
    return html_lib.unescape(found.group(1))


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
    assert "accept the Judge" in page.text


def decide(client: Any, csrf: str, claim_id: str, key: str, note: str = "") -> str:
    page = client.post(
        f"/runs/{RUN_ID}/decide",
        data={"csrf": csrf, "claim_id": claim_id, "key": key, "note": note, "shown_at": "2026-01-01T00:00:00+00:00"},
    )
    assert page.status_code == 200, page.text
    return page.text


def test_a_decision_is_saved_once_and_the_next_claim_follows(client: TestClient, web_ws: Path) -> None:
    csrf = sign_in(client)
    first = current_claim(client.get(f"/runs/{RUN_ID}/review").text)
    after = decide(client, csrf, first, "1", note="solar cells")
    assert "saved" in after and "the Judge said" in after
    second = current_claim(after)
    assert second != first
    (row,) = reviews(web_ws)
    assert (row["claim_id"], row["reviewer"], row["label"], row["note"], row["verdict_shown"]) == (
        first,
        "ann",
        1,
        "solar cells",
        1,
    )
    assert counts(web_ws)["human"] == 1
    # The same form sent again decides nothing more.
    again = decide(client, csrf, first, "1", note="solar cells")
    assert "no longer waits" in again
    assert len(reviews(web_ws)) == 1


def test_blind_review_hides_the_verdict_and_refuses_accept(client: TestClient, web_ws: Path) -> None:
    csrf = sign_in(client, blind=True)
    page = client.get(f"/runs/{RUN_ID}/review").text
    assert "hidden until you decide" in page
    assert "confidence <b>" not in page and 'data-key="a"' not in page  # no accept button
    claim_id = current_claim(page)
    refused = decide(client, csrf, claim_id, "a")
    assert "not offered in blind review" in refused
    done = decide(client, csrf, claim_id, "0")
    assert "revealed after your decision" in done
    (row,) = reviews(web_ws)
    assert row["verdict_shown"] == 0
    assert "verdict" not in row["shown_json"]


def test_overruling_a_shown_judge_needs_a_note(client: TestClient, web_ws: Path) -> None:
    csrf = sign_in(client)
    page = client.get(f"/runs/{RUN_ID}/review").text
    claim_id = current_claim(page)
    judge = "1" if 'l1">GREEN</span>\n      confidence' in page else "0"
    other = "0" if judge == "1" else "1"
    refused = decide(client, csrf, claim_id, other)
    assert "a note saying why is required" in refused
    assert reviews(web_ws) == []
    decide(client, csrf, claim_id, other, note="the claim is about paint")
    assert reviews(web_ws)[0]["label"] == int(other)


def test_accept_takes_the_judges_label(client: TestClient, web_ws: Path) -> None:
    csrf = sign_in(client)
    claim_id = current_claim(client.get(f"/runs/{RUN_ID}/review").text)
    decide(client, csrf, claim_id, "a")
    (row,) = reviews(web_ws)
    assert row["label"] == row["judge_label"]


def test_every_post_needs_the_sessions_csrf_token(client: TestClient, web_ws: Path) -> None:
    csrf = sign_in(client)
    claim_id = current_claim(client.get(f"/runs/{RUN_ID}/review").text)
    for path, data in [
        (f"/runs/{RUN_ID}/decide", {"claim_id": claim_id, "key": "1"}),
        (f"/runs/{RUN_ID}/skip", {"claim_id": claim_id}),
        (f"/runs/{RUN_ID}/undo", {}),
        (f"/runs/{RUN_ID}/renew", {"claim_id": claim_id}),
        (f"/runs/{RUN_ID}/mode", {"blind": "on"}),
        (f"/runs/{RUN_ID}/revise", {"claim_id": claim_id, "key": "1"}),
        ("/signin", {"name": "mallory"}),
        ("/signout", {}),
    ]:
        assert client.post(path, data=data).status_code == 403, path
        assert client.post(path, data={**data, "csrf": "forged"}).status_code == 403, path
    assert reviews(web_ws) == []
    # Another browser's token is not this session's.
    other_csrf = sign_in(second_browser(client), "bob")
    assert other_csrf != csrf
    refused = client.post(f"/runs/{RUN_ID}/decide", data={"csrf": other_csrf, "claim_id": claim_id, "key": "1"})
    assert refused.status_code == 403
    # The header works as well as the form field (htmx sends it).
    ok = client.post(f"/runs/{RUN_ID}/renew", data={"claim_id": claim_id}, headers={"X-CSRF-Token": csrf})
    assert ok.status_code == 204


def test_claim_text_and_ids_with_markup_show_as_text(client: TestClient) -> None:
    sign_in(client)
    listing = client.get(f"/runs/{RUN_ID}/claims", params={"q": "solar panel"}).text
    assert "evil&lt;b&gt;1&lt;/b&gt;" in listing
    assert "<script>window" not in listing and "<b>1</b>" not in listing
    page = client.get(f"/runs/{RUN_ID}/claims/{quote(SCRIPT_ID, safe='')}").text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "with {{ 7*7 }} and {% raw %} cells" in page and "with 49 and" not in page
    assert "<script>window" not in page and "<img src=x" not in page
    template_claim = client.get(f"/runs/{RUN_ID}/claims/tmpl-2").text
    assert "{{ config }} {% if true %}yes{% endif %}" in template_claim
    assert "&amp; a &#34;quoted&#34; &#39;claim&#39;" in template_claim
    # The cue words are marked, and only they are markup of ours.
    assert '<mark class="cue strong"' in page


def test_names_and_notes_with_markup_are_escaped(client: TestClient, web_ws: Path) -> None:
    csrf = sign_in(client, "<i>eve</i>{{x}}")
    home = client.get("/").text
    assert "&lt;i&gt;eve&lt;/i&gt;{{x}}" in home and "<i>eve</i>" not in home
    claim_id = current_claim(client.get(f"/runs/{RUN_ID}/review").text)
    decide(client, csrf, claim_id, "1", note="<script>alert('note')</script>")
    page = client.get(f"/runs/{RUN_ID}/claims/{claim_id}").text
    assert "&lt;script&gt;alert(&#39;note&#39;)&lt;/script&gt;" in page
    assert "<script>alert" not in page


def test_skip_moves_on_and_undo_brings_the_claim_back(client: TestClient, web_ws: Path) -> None:
    csrf = sign_in(client)
    first = current_claim(client.get(f"/runs/{RUN_ID}/review").text)
    after_skip = client.post(f"/runs/{RUN_ID}/skip", data={"csrf": csrf, "claim_id": first}).text
    assert "skipped" in after_skip
    second = current_claim(after_skip)
    assert second != first
    decide(client, csrf, second, "1", note="n")
    assert counts(web_ws)["human"] == 1
    undone = client.post(f"/runs/{RUN_ID}/undo", data={"csrf": csrf, "claim_id": ""}).text
    assert "it waits for a person again" in undone
    assert current_claim(undone) == second
    assert counts(web_ws)["human"] == 0
    assert reviews(web_ws) == []


def test_two_reviewers_are_never_shown_the_same_claim(client: TestClient, web_ws: Path) -> None:
    ann_csrf = sign_in(client, "ann")
    bob = second_browser(client)
    bob_csrf = sign_in(bob, "bob")
    seen_by_ann, seen_by_bob = set(), set()
    for _ in range(4):
        a = current_claim(client.get(f"/runs/{RUN_ID}/review").text)
        b = current_claim(bob.get(f"/runs/{RUN_ID}/review").text)
        assert a != b
        assert a not in seen_by_bob and b not in seen_by_ann
        seen_by_ann.add(a)
        seen_by_bob.add(b)
        # A reload shows the same claim: it stays leased to its reviewer.
        assert current_claim(client.get(f"/runs/{RUN_ID}/review").text) == a
        decide(client, ann_csrf, a, "1", note="n")
        decide(bob, bob_csrf, b, "0", note="n")
    # Bob cannot decide the claim on Ann's screen.
    a = current_claim(client.get(f"/runs/{RUN_ID}/review").text)
    refused = decide(bob, bob_csrf, a, "1", note="n")
    assert "on another reviewer&#39;s screen" in refused
    assert len(reviews(web_ws)) == 8
    assert len({r["claim_id"] for r in reviews(web_ws)}) == 8


def test_revise_replaces_my_decision_and_keeps_the_old_one(client: TestClient, web_ws: Path) -> None:
    csrf = sign_in(client)
    claim_id = current_claim(client.get(f"/runs/{RUN_ID}/review").text)
    decide(client, csrf, claim_id, "1", note="first")
    page = client.post(
        f"/runs/{RUN_ID}/revise", data={"csrf": csrf, "claim_id": claim_id, "key": "0", "note": "on reflection"}
    ).text
    assert "revised" in page and "your earlier decision is kept" in page
    (active,) = reviews(web_ws)
    assert (active["label"], active["note"], active["resumed_thread"]) == (0, "on reflection", 1)
    everything = reviews(web_ws, active_only=False)
    assert [r["label"] for r in everything] == [1, 0] and everything[0]["undone_at"]
    assert counts(web_ws)["human"] == 1
    listing = client.get(f"/runs/{RUN_ID}/claims", params={"status": "human"}).text
    assert claim_id in listing and "NOT GREEN" in listing


def test_claims_search_and_status_filter(client: TestClient) -> None:
    everything = client.get(f"/runs/{RUN_ID}/claims").text
    assert "14 claim(s)" in everything
    assert "1 claim(s)" in client.get(f"/runs/{RUN_ID}/claims", params={"q": "gearbox"}).text
    assert "0 claim(s)" in client.get(f"/runs/{RUN_ID}/claims", params={"status": "judge"}).text
    assert client.get(f"/runs/{RUN_ID}/claims/nope").status_code == 404
    assert client.get("/runs/nope/claims").status_code == 400


def test_agreement_page_has_kappa_tables_and_plots(client: TestClient) -> None:
    empty = client.get(f"/runs/{RUN_ID}/agreement").text
    assert "nothing to compare yet" in empty and "<img" not in empty
    assert client.get(f"/runs/{RUN_ID}/plots/reliability.png").status_code == 404
    csrf = sign_in(client)
    for _ in range(3):
        claim_id = current_claim(client.get(f"/runs/{RUN_ID}/review").text)
        decide(client, csrf, claim_id, "a")
    page = client.get(f"/runs/{RUN_ID}/agreement").text
    assert "Judge vs people" in page and "people, verdict shown" in page
    for plot in ("confusion_matrix", "reliability", "coverage"):
        assert f"/plots/{plot}.png" in page
        image = client.get(f"/runs/{RUN_ID}/plots/{plot}.png")
        assert image.status_code == 200 and image.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get(f"/runs/{RUN_ID}/plots/..%2F..%2Fetc.png").status_code == 404


def test_export_downloads_by_name_never_by_path(client: TestClient, web_ws: Path) -> None:
    csrf = sign_in(client)
    claim_id = current_claim(client.get(f"/runs/{RUN_ID}/review").text)
    decide(client, csrf, claim_id, "1", note="n")
    assert "gold-human.csv" in client.get(f"/runs/{RUN_ID}/export").text
    got = client.get(f"/runs/{RUN_ID}/export/gold-human.csv")
    assert got.status_code == 200
    assert 'filename="r1-gold-human.csv"' in got.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(got.text)))
    assert [(r["id"], r["label"], r["reviewer"]) for r in rows] == [(claim_id, "1", "ann")]
    parquet = client.get(f"/runs/{RUN_ID}/export/gold.parquet")
    assert parquet.status_code == 200 and parquet.content[:4] == b"PAR1"
    for bad in ("..%2F..%2Fx.csv", "gold.txt", "%2Ftmp%2Fgold.csv"):
        assert client.get(f"/runs/{RUN_ID}/export/{bad}").status_code == 404
    # Nothing is left behind in the workspace, and nothing was written outside it.
    assert not [p for p in (web_ws / "web" / "exports").rglob("*") if p.is_file()]


def test_a_token_is_needed_on_every_request_when_given(web_settings: Settings) -> None:
    app = create_app(web_settings, token="s3cret-token")
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for path in ("/", f"/runs/{RUN_ID}/review", "/static/htmx.min.js", f"/runs/{RUN_ID}/export/gold.csv"):
            assert client.get(path).status_code == 401, path
        assert client.get("/", params={"token": "wrong"}).status_code == 401
        assert client.get("/", headers={"X-Claimcourt-Token": "s3cret-token"}).status_code == 200
        assert client.get("/", headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
        first = client.get("/", params={"token": "s3cret-token"}, follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/"
        assert client.get("/static/htmx.min.js").status_code == 200  # the cookie now carries it
        csrf = csrf_of(client.get("/").text)
        assert client.post("/signin", data={"csrf": csrf, "name": "ann"}).status_code == 200


def test_a_second_opinion_goes_to_another_reviewer_and_shows_in_agreement(client: TestClient, web_ws: Path) -> None:
    ann_csrf = sign_in(client, "ann")
    decided = current_claim(client.get(f"/runs/{RUN_ID}/review").text)
    decide(client, ann_csrf, decided, "1", note="n")
    bob = second_browser(client)
    page = bob.get("/").text
    done = bob.post("/signin", data={"csrf": csrf_of(page), "name": "bob", "second": "on", "next": ""})
    bob_csrf = csrf_of(done.text)
    review = bob.get(f"/runs/{RUN_ID}/review").text
    assert "SECOND OPINION" in review and current_claim(review) == decided
    after = decide(bob, bob_csrf, decided, "1", note="agree")
    assert "Nothing needs your second opinion" in after
    rows = reviews(web_ws)
    assert [(r["reviewer"], r["resumed_thread"]) for r in rows] == [("ann", 1), ("bob", 0)]
    agreement = client.get(f"/runs/{RUN_ID}/agreement").text
    assert "ann vs bob" in agreement


def test_errors_are_pages_not_tracebacks(client: TestClient) -> None:
    refused = client.post(f"/runs/{RUN_ID}/decide", data={"csrf": csrf_of(client.get("/").text), "key": "1"})
    assert refused.status_code == 401 and "sign in with your name first" in refused.text
    missing = client.get("/no/such/page")
    assert missing.status_code == 404 and "There is no such page." in missing.text


def test_changing_mode_or_signing_out_gives_the_claim_back_at_once(client: TestClient) -> None:
    csrf = sign_in(client, "ann")
    held = current_claim(client.get(f"/runs/{RUN_ID}/review").text)
    bob = second_browser(client)
    bob_csrf = sign_in(bob, "bob")
    assert current_claim(bob.get(f"/runs/{RUN_ID}/review").text) != held
    # Blind on: the same kind of review, ann keeps her claim.
    blind = client.post(f"/runs/{RUN_ID}/mode", data={"csrf": csrf, "blind": "on"}).text
    assert "BLIND" in blind and current_claim(blind) == held
    # Second opinion: ann leaves the waiting claims, and hers is free for the next reviewer.
    second = client.post(f"/runs/{RUN_ID}/mode", data={"csrf": csrf, "second": "on"}).text
    assert "Nothing needs your second opinion" in second
    cat = second_browser(client)
    sign_in(cat, "cat")
    assert current_claim(cat.get(f"/runs/{RUN_ID}/review").text) == held
    out = bob.post("/signout", data={"csrf": bob_csrf})
    assert out.status_code == 200 and "Sign in" in out.text and "bob" not in out.text
    assert "Sign in to review" in bob.get(f"/runs/{RUN_ID}/review").text


def test_a_claim_on_a_web_screen_is_withheld_from_every_other_face_of_the_desk(
    client: TestClient, web_settings: Settings
) -> None:
    sign_in(client, "ann")
    held = current_claim(client.get(f"/runs/{RUN_ID}/review").text)

    async def terminal_reviewer() -> str | None:
        async with ReviewDesk(web_settings, RUN_ID) as desk:
            return desk.take_next("bob")

    taken = asyncio.run(terminal_reviewer())
    assert taken is not None and taken != held
