"""Blind review in the terminal app, view by view: the claim, the status bar, the list, search results and
the filters never show the Judge's verdict on a claim the person has not decided; after a blind decision
the person's label stays theirs (no `a`), and a change after the reveal is a revision recorded as shown.
Driven with Textual's Pilot on a real workspace; the screen is read back as text."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.pilot import Pilot

from claimcourt.config import Settings
from claimcourt.review.agreement import agreement_report
from claimcourt.review.desk import ReviewDesk
from claimcourt.review.tui.app import ReviewApp
from claimcourt.review.tui.screens import ClaimListScreen, HelpScreen, NoteScreen
from claimcourt.state import ClaimState
from claimcourt.store import open_store
from tests.cli.test_review_app import agree, drive, overrule, press
from tests.review_support import RUN_ID, review_settings, review_ws, reviews, waiting_states
from tests.tui_support import screen_text

__all__ = ["review_settings", "review_ws"]


def verdict_marks(states: list[ClaimState], *, label_words: bool) -> list[str]:
    """What would give the Judge away on screen: its verdict line, each claim's confidence as drawn, and
    (where no labelled neighbours are drawn, as in a list) any label word at all."""
    marks = ["verdict GREEN", "verdict NOT GREEN", "confidence 0.", "confidence 1."]
    marks += ["GREEN"] if label_words else []
    for state in states:
        assert state.verdict is not None
        marks.append(f" {state.verdict.confidence:.2f}")
    return marks


def leaks(screen: str, states: list[ClaimState], *, label_words: bool = True) -> list[str]:
    return [mark for mark in verdict_marks(states, label_words=label_words) if mark in screen]


def test_blind_list_search_filters_and_status_never_show_the_judge(review_settings: Settings, review_ws: Path) -> None:
    states = waiting_states(review_ws)

    async def scenario(app: ReviewApp, pilot: Pilot[None]) -> None:
        assert leaks(screen_text(app), states, label_words=False) == []  # the neighbours' labels are evidence
        await press(pilot, "l")
        assert isinstance(app.screen, ClaimListScreen)
        listed = screen_text(app)
        assert "24 claims" in listed and "yours" in listed
        assert "Judge" not in listed and leaks(listed, states) == []
        await press(pilot, "escape", "slash", *"comprising", "enter")
        assert isinstance(app.screen, ClaimListScreen)
        found = screen_text(app)
        assert "claims match 'comprising'" in found and "Judge" not in found and leaks(found, states) == []
        await press(pilot, "escape")
        for key in ("f", "c"):
            await press(pilot, key)
            screen = screen_text(app)
            assert "filters by the Judge's label or confidence are off in blind review" in screen, screen
            assert "filter: Judge" not in screen and "filter: confidence" not in screen
            assert leaks(screen, states, label_words=False) == []
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_screen = screen_text(app)
        # the one policy, in its own words: what blind hides and what the hardest-first order implies
        assert "This session is BLIND" in help_screen and "hardest first" in help_screen
        await press(pilot, "escape")

    drive(review_settings, scenario, blind=True, reviewer="bea", size=(160, 50))


def test_after_a_blind_decision_the_label_stays_the_persons_and_a_change_is_a_shown_revision(
    review_settings: Settings, review_ws: Path
) -> None:
    c1 = waiting_states(review_ws)[0]

    async def scenario(app: ReviewApp, pilot: Pilot[None]) -> None:
        await press(pilot, overrule(c1))  # blind: disagreeing unknowingly, no note asked
        assert "revealed after your decision" in " ".join(screen_text(app).split())
        await press(pilot, "a")  # the Judge's label may not replace the blind one
        refused = " ".join(screen_text(app).split())
        assert "not offered on a claim you decided blind" in refused
        assert "a agree" not in refused and "a accept" not in refused  # nor is it in the legend
        await press(pilot, agree(c1))  # changing it after the reveal: a revision, recorded as shown
        assert not isinstance(app.screen, NoteScreen)  # agreeing with the Judge needs no note
        assert f"revised {c1.claim_id}" in screen_text(app)

    drive(review_settings, scenario, blind=True, reviewer="bea")
    history = reviews(review_ws, active_only=False)
    assert [(r["label"], r["verdict_shown"], r["undone_at"] is None) for r in history] == [
        (int(overrule(c1)), 0, False),
        (int(agree(c1)), 1, True),
    ]
    assert "verdict" in history[1]["shown_json"]

    store = open_store(review_settings)
    try:
        report = agreement_report(store.reviews.active(run_id=RUN_ID), history=store.reviews.every(run_id=RUN_ID))
    finally:
        store.close()
    rows = {a.b: a for a in report.judge}
    # The blind decision (against the Judge) still counts as blind; the revision counts as shown.
    assert (rows["people, blind"].n, rows["people, blind"].agree) == (1, 0)
    assert (rows["people, verdict shown"].n, rows["people, verdict shown"].agree) == (1, 1)


def test_undo_of_a_blind_decision_leaves_the_verdict_shown_and_a_new_decision_is_recorded_as_shown(
    review_settings: Settings, review_ws: Path
) -> None:
    c1 = waiting_states(review_ws)[0]

    async def scenario(app: ReviewApp, pilot: Pilot[None]) -> None:
        await press(pilot, agree(c1), "u")
        screen = screen_text(app)
        assert f"claim {c1.claim_id}" in screen and "confidence 0." in screen  # seen once, not hidden again
        await press(pilot, overrule(c1))
        assert isinstance(app.screen, NoteScreen)  # overruling a Judge they have seen needs a note
        await press(pilot, *"the coating is incidental", "enter")

    drive(review_settings, scenario, blind=True, reviewer="bea")
    (row,) = reviews(review_ws)
    assert (row["label"], row["verdict_shown"], row["note"]) == (int(overrule(c1)), 1, "the coating is incidental")


def test_a_seeing_session_lists_the_judge_and_the_persons_own_label(review_settings: Settings, review_ws: Path) -> None:
    states = waiting_states(review_ws)
    c1 = states[0]

    async def scenario(app: ReviewApp, pilot: Pilot[None]) -> None:
        await press(pilot, overrule(c1), *"only a housing", "enter")
        await press(pilot, "l")
        listed = screen_text(app)
        assert "Judge" in listed and "yours" in listed
        line = next(line for line in listed.splitlines() if line.lstrip().startswith(c1.claim_id))
        mine = "GREEN" if overrule(c1) == "1" else "NOT GREEN"
        judge = "GREEN" if agree(c1) == "1" else "NOT GREEN"
        # the person's label sits in its own column, before the Judge's: not the Judge's in its place
        assert line.index(mine) < line.rindex(judge), line

    drive(review_settings, scenario, reviewer="cleo", size=(160, 50))


def test_the_desk_refuses_what_the_policy_refuses_whatever_the_caller(
    review_settings: Settings, review_ws: Path
) -> None:
    from claimcourt.errors import ReviewRefused
    from claimcourt.state import HumanDecision

    c1 = waiting_states(review_ws)[0]
    judge = int(agree(c1))

    async def go() -> list[str]:
        reasons = []
        async with ReviewDesk(review_settings, RUN_ID) as desk:
            for decision, choice in (
                (HumanDecision(label=1 - judge, reviewer="dan"), "label"),  # overrules a shown Judge, no note
                (HumanDecision(label=judge, reviewer="dan", verdict_shown=False), "accept"),  # accept, blind
            ):
                try:
                    await desk.decide(c1.claim_id, decision, source="bulk", choice=choice)  # type: ignore[arg-type]
                except ReviewRefused as refused:
                    reasons.append(refused.reason)
            await desk.decide(
                c1.claim_id, HumanDecision(label=1 - judge, reviewer="dan", verdict_shown=False), source="bulk"
            )
            try:  # accepting the Judge after deciding blind, by any path
                await desk.revise(
                    c1.claim_id, HumanDecision(label=judge, reviewer="dan"), source="interactive", choice="accept"
                )
            except ReviewRefused as refused:
                reasons.append(refused.reason)
        return reasons

    assert asyncio.run(go()) == ["note_required", "accept_blind", "accept_after_blind"]
    (row,) = reviews(review_ws)
    assert (row["label"], row["verdict_shown"]) == (1 - judge, 0)
