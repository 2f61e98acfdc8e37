"""The review app driven as a person drives it, through Textual's own harness (a Pilot pressing keys), on
a real workspace: real threads, real ledger. The screen is read back as text from Textual's screenshot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from claimcourt.config import Settings, load_settings
from claimcourt.review.desk import ReviewDesk
from claimcourt.review.tui.app import ReviewApp
from claimcourt.review.tui.screens import ClaimListScreen, HelpScreen, NoteScreen
from claimcourt.review.tui.session import Session
from claimcourt.state import ClaimState
from tests.review_support import RUN_ID, counts, review_settings, review_ws, reviews, waiting_states
from tests.tui_support import screen_text

__all__ = ["review_settings", "review_ws"]

Scenario = Callable[[ReviewApp, Pilot[None]], Awaitable[Any]]


@asynccontextmanager
async def running(
    settings: Settings, *, size: tuple[int, int] = (80, 24), reviewer: str = "ann", blind: bool = False
) -> AsyncIterator[tuple[ReviewApp, Pilot[None]]]:
    async with ReviewDesk(settings, RUN_ID) as desk:
        app = ReviewApp(Session(desk, reviewer=reviewer, blind=blind))
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            yield app, pilot


def drive(settings: Settings, scenario: Scenario, **options: Any) -> Any:
    async def go() -> Any:
        async with running(settings, **options) as (app, pilot):
            return await scenario(app, pilot)

    return asyncio.run(go())


async def press(pilot: Pilot[None], *keys: str) -> None:
    for key in keys:
        await pilot.press(key)
        await pilot.pause()


def agree(state: ClaimState) -> str:
    assert state.verdict is not None and state.verdict.label is not None
    return str(state.verdict.label)


def overrule(state: ClaimState) -> str:
    return str(1 - int(agree(state)))


def first_words(state: ClaimState, n: int = 6) -> str:
    return " ".join(state.text.split()[:n])


def test_the_claim_is_on_screen_at_80x24_and_160x50(review_settings: Settings, review_ws: Path) -> None:
    c1 = waiting_states(review_ws)[0]

    async def look(app: ReviewApp, pilot: Pilot[None]) -> str:
        return screen_text(app)

    for size in ((80, 24), (160, 50)):
        screen = drive(review_settings, look, size=size)
        lines = screen.splitlines()
        assert len(lines) <= size[1]
        assert f"claim {c1.claim_id}" in screen, screen
        assert first_words(c1) in " ".join(screen.split()), screen  # the claim itself, not just its title
        assert "confidence 0." in screen and "24 waiting" in screen
        assert "1 green" in lines[-1] and "? help" in lines[-1]  # the keys, on the last line
    assert "Advocate" in screen and "Skeptic" in screen and "most similar labelled claims" in screen


def test_agreeing_saves_and_moves_on_and_counts(review_settings: Settings, review_ws: Path) -> None:
    c1, c2 = waiting_states(review_ws)[:2]

    async def scenario(app: ReviewApp, pilot: Pilot[None]) -> str:
        await press(pilot, agree(c1))
        return screen_text(app)

    screen = drive(review_settings, scenario)
    assert f"saved {c1.claim_id}" in screen and f"claim {c2.claim_id}" in screen
    assert "session 1" in screen and "23 waiting" in screen
    (row,) = reviews(review_ws)
    assert (row["claim_id"], row["label"], row["reviewer"], row["verdict_shown"]) == (
        c1.claim_id,
        int(agree(c1)),
        "ann",
        1,
    )


def test_overruling_needs_a_note_and_escape_cancels(review_settings: Settings, review_ws: Path) -> None:
    c1 = waiting_states(review_ws)[0]

    async def scenario(app: ReviewApp, pilot: Pilot[None]) -> None:
        await press(pilot, overrule(c1))
        assert isinstance(app.screen, NoteScreen)
        field = app.screen.query_one(Input)
        assert field.value == ""  # the key that opened the field is not in it
        await press(pilot, "enter")  # empty: refused
        assert isinstance(app.screen, NoteScreen)
        assert "a note is required" in screen_text(app)
        await press(pilot, overrule(c1), "enter")  # a label key is not a reason
        assert isinstance(app.screen, NoteScreen)
        assert "is a label key, not a reason" in screen_text(app)
        await press(pilot, "escape")
        assert not isinstance(app.screen, NoteScreen)
        assert "not decided" in screen_text(app)
        assert reviews(review_ws) == []

        await press(pilot, overrule(c1))
        await press(pilot, *"coating only", "enter")
        assert f"saved {c1.claim_id}" in screen_text(app)

    drive(review_settings, scenario)
    (row,) = reviews(review_ws)
    assert (row["label"], row["note"]) == (int(overrule(c1)), "coating only")


def test_blind_review_hides_the_verdict_until_the_decision_then_shows_it_in_place(
    review_settings: Settings, review_ws: Path
) -> None:
    c1, c2 = waiting_states(review_ws)[:2]
    assert c1.verdict is not None and c2.verdict is not None

    async def scenario(app: ReviewApp, pilot: Pilot[None]) -> None:
        before = screen_text(app)
        assert "BLIND" in before and "hidden until you decide" in before
        for leak in ("confidence 0.", c1.verdict.rationale[:30], "a agree"):
            assert leak not in before, leak
        await press(pilot, "a")
        assert "not offered in blind review" in screen_text(app)
        await press(pilot, overrule(c1))  # disagreeing unknowingly needs no note
        assert not isinstance(app.screen, NoteScreen)
        after = screen_text(app)
        assert f"claim {c1.claim_id}" in after  # still on the claim, its verdict now in place
        assert "revealed after your decision" in " ".join(after.split()) and "confidence 0." in after
        await press(pilot, "enter")
        nxt = screen_text(app)
        assert f"claim {c2.claim_id}" in nxt and "hidden until you decide" in nxt and "confidence 0." not in nxt

    drive(review_settings, scenario, blind=True, reviewer="bea")
    (row,) = reviews(review_ws)
    assert row["verdict_shown"] == 0 and "verdict" not in row["shown_json"]


def test_revising_keeps_the_earlier_decision_in_the_history(review_settings: Settings, review_ws: Path) -> None:
    c1 = waiting_states(review_ws)[0]

    async def scenario(app: ReviewApp, pilot: Pilot[None]) -> None:
        await press(pilot, agree(c1))
        await press(pilot, "slash", *c1.claim_id, "enter")  # jump back to it by id
        screen = screen_text(app)
        assert f"claim {c1.claim_id}" in screen and "decided by you" in screen
        await press(pilot, overrule(c1))
        assert isinstance(app.screen, NoteScreen)  # revising against the Judge needs a reason too
        await press(pilot, *"second look", "enter")
        assert f"revised {c1.claim_id}" in screen_text(app)

    drive(review_settings, scenario)
    history = reviews(review_ws, active_only=False)
    assert [(r["label"], r["undone_at"] is None) for r in history] == [
        (int(agree(c1)), False),
        (int(overrule(c1)), True),
    ]
    assert counts(review_ws)["human"] == 1

    async def thread() -> Any:
        async with ReviewDesk(review_settings, RUN_ID) as desk:
            return await desk.threads.current(c1.claim_id)

    state = asyncio.run(thread())
    assert state.final_label == int(overrule(c1)) and state.human.note == "second look"


def test_the_list_search_and_filters(review_settings: Settings, review_ws: Path) -> None:
    states = waiting_states(review_ws)
    green = [s for s in states if s.verdict is not None and s.verdict.label == 1]

    async def scenario(app: ReviewApp, pilot: Pilot[None]) -> None:
        await press(pilot, "l")
        assert isinstance(app.screen, ClaimListScreen)
        assert "24 claims" in screen_text(app)
        await press(pilot, "down", "down", "enter")  # the third claim of the list
        assert f"claim {states[2].claim_id}" in screen_text(app)

        await press(pilot, "slash", *"no such words anywhere", "enter")
        assert "no claim id or text matches" in screen_text(app)
        await press(pilot, "slash", *"comprising", "enter")  # in many claims: a list of them
        assert isinstance(app.screen, ClaimListScreen) and "claims match 'comprising'" in screen_text(app)
        await press(pilot, "escape")

        await press(pilot, "f")  # only the claims the Judge called green
        screen = screen_text(app)
        assert "filter: Judge green" in screen and f"{len(green)} claim(s) to review match" in screen
        await press(pilot, "slash", *green[0].claim_id, "enter")
        await press(pilot, "enter")  # the next claim the Judge called green
        assert f"claim {green[1].claim_id}" in screen_text(app)
        await press(pilot, "c")
        assert "confidence 0.0–0.6" in screen_text(app)

    drive(review_settings, scenario)


def test_undo_brings_the_claim_back_with_its_note_and_help_shows_the_keys(
    review_settings: Settings, review_ws: Path
) -> None:
    c1 = waiting_states(review_ws)[0]

    async def scenario(app: ReviewApp, pilot: Pilot[None]) -> None:
        await press(pilot, "n", *"checked the description", "enter")
        assert "your note: checked the description" in screen_text(app)
        await press(pilot, agree(c1), "u")
        screen = screen_text(app)
        assert f"undid your decision on {c1.claim_id}" in screen and f"claim {c1.claim_id}" in screen
        assert "your note: checked the description" in screen
        await press(pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen) and "1 green" in " ".join(screen_text(app).split())
        assert "Escape or q goes back" not in screen_text(app)  # at 80x24 the help scrolls to its end
        await press(pilot, "end")
        bottom = " ".join(screen_text(app).split())
        assert isinstance(app.screen, HelpScreen) and "Escape or q goes back" in bottom
        await press(pilot, "escape")
        assert not isinstance(app.screen, HelpScreen)

    drive(review_settings, scenario)
    assert reviews(review_ws) == [] and counts(review_ws)["pending_review"] == 24


def test_a_new_session_opens_the_claim_the_last_one_stopped_at(review_settings: Settings, review_ws: Path) -> None:
    c1, c2, c3 = waiting_states(review_ws)[:3]

    async def skip_two(app: ReviewApp, pilot: Pilot[None]) -> None:
        await press(pilot, agree(c1), "s")
        assert f"claim {c3.claim_id}" in screen_text(app)

    async def look(app: ReviewApp, pilot: Pilot[None]) -> str:
        return screen_text(app)

    drive(review_settings, skip_two)
    screen = drive(review_settings, look)
    assert f"claim {c3.claim_id}" in screen
    assert "you 1 · all 1" in screen  # counted over the run, not the session
    assert f"claim {c2.claim_id}" in drive(review_settings, look, reviewer="bob")  # bob starts at the head


def test_a_second_opinion_session_shows_the_claims_a_person_decided(review_settings: Settings, review_ws: Path) -> None:
    c1 = waiting_states(review_ws)[0]

    async def first(app: ReviewApp, pilot: Pilot[None]) -> None:
        await press(pilot, agree(c1))

    async def second() -> str:
        async with ReviewDesk(review_settings, RUN_ID) as desk:
            app = ReviewApp(Session(desk, reviewer="bob", blind=True, second_opinion=True))
            async with app.run_test(size=(100, 30)) as pilot:
                await pilot.pause()
                screen = screen_text(app)
                await press(pilot, overrule(c1))
                return screen + screen_text(app)

    drive(review_settings, first)
    screens = asyncio.run(second())
    assert "SECOND OPINION" in screens and f"claim {c1.claim_id}" in screens and f"saved {c1.claim_id}" in screens
    rows = reviews(review_ws)
    assert [(r["reviewer"], r["resumed_thread"], r["verdict_shown"]) for r in rows] == [("ann", 1, 1), ("bob", 0, 0)]
    assert counts(review_ws)["human"] == 1


def test_two_reviewers_at_once_never_see_the_same_waiting_claim(review_settings: Settings, review_ws: Path) -> None:
    c1, c2, c3, c4 = waiting_states(review_ws)[:4]

    async def scenario(app: ReviewApp, pilot: Pilot[None]) -> None:
        assert f"claim {c1.claim_id}" in screen_text(app)  # ann's, leased to her
        async with ReviewDesk(review_settings, RUN_ID) as other:
            bob = Session(other, reviewer="bob", blind=False)
            shown = await bob.start()
            assert shown is not None and shown.claim_id == c2.claim_id  # not the claim on ann's screen
            assert c1.claim_id not in bob.queue()
            await press(pilot, "enter")  # ann moves on: past bob's claim, and c1 goes back to the queue
            assert f"claim {c3.claim_id}" in screen_text(app)
            await press(pilot, "slash", *c2.claim_id, "enter")  # ann cannot open bob's claim either
            screen = screen_text(app)
            assert f"{c2.claim_id} is on bob's screen" in screen and f"claim {c3.claim_id}" in screen
            assert other.take_next("cat") == c1.claim_id
            await press(pilot, agree(c3))  # deciding ends ann's lease; she goes on to a claim no one holds
            assert other.lease_holder(c3.claim_id) is None
            assert f"claim {c4.claim_id}" in screen_text(app)  # c1 is cat's now, c2 bob's

    drive(review_settings, scenario)


def test_quitting_gives_the_claim_back_to_the_others(review_settings: Settings, review_ws: Path) -> None:
    c1 = waiting_states(review_ws)[0]

    async def scenario(app: ReviewApp, pilot: Pilot[None]) -> None:
        async with ReviewDesk(review_settings, RUN_ID) as other:
            assert other.lease_holder(c1.claim_id) == "ann"
            assert other.take_next("bob") != c1.claim_id
            await press(pilot, "q")
            assert other.lease_holder(c1.claim_id) is None
            assert other.take_next("cat") == c1.claim_id

    drive(review_settings, scenario)


def test_a_lease_lost_on_a_long_stay_says_so_and_moves_on(review_ws: Path) -> None:
    """The app renews the lease of the claim on screen while the person looks; when someone holds it
    anyway (her lease lapsed unrenewed, and bob took it), the next renewal says so and moves on. Each
    step waits for what it needs (a renewal seen in the store, the message on screen), not for a time."""
    c1, c2 = waiting_states(review_ws)[:2]
    settings = load_settings(overrides={"workspace": review_ws, "review_lease_s": 0.6}, environ={})

    async def until(app: ReviewApp, pilot: Pilot[None], condition: Callable[[], bool], what: str) -> None:
        for _ in range(3000):  # up to five minutes: only a failing test waits that long
            if condition():
                return
            await asyncio.sleep(0.1)
            await pilot.pause()
        raise AssertionError(f"{what} never happened:\n{screen_text(app)}")

    async def scenario(app: ReviewApp, pilot: Pilot[None]) -> None:
        async with ReviewDesk(settings, RUN_ID) as other:

            def expires() -> float:
                row = other.state_store.db.query_one(
                    "SELECT expires FROM review_leases WHERE run_id = ? AND claim_id = ?", (RUN_ID, c1.claim_id)
                )
                return float(row["expires"]) if row else 0.0

            first = expires()
            await until(app, pilot, lambda: expires() > first, "a renewal of ann's lease")
            other.release(c1.claim_id, "ann")  # as if her lease had lapsed unrenewed, and bob took it
            assert other.take(c1.claim_id, "bob")
            await until(app, pilot, lambda: "is now on bob's screen" in screen_text(app), "the lost lease's message")
            assert f"claim {c2.claim_id}" in screen_text(app)

    drive(settings, scenario)
