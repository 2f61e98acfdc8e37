"""The review desk against a real workspace: real checkpointer threads, real ledger."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from claimcourt.config import Settings
from claimcourt.errors import RunStateError
from claimcourt.review.desk import ReviewDesk
from claimcourt.state import HumanDecision
from claimcourt.store import ReviewStore
from tests.review_support import RUN_ID, counts, review_settings, review_ws, reviews, waiting_states

__all__ = ["review_settings", "review_ws"]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _thread(desk: ReviewDesk, claim_id: str) -> Any:
    return await desk.threads.snapshot(claim_id)


def test_a_decision_finishes_the_thread_as_human_and_updates_ledger_and_reviews(
    review_settings: Settings, review_ws: Path
) -> None:
    first = waiting_states(review_ws)[0]

    async def go() -> Any:
        async with ReviewDesk(review_settings, RUN_ID) as desk:
            outcome = await desk.decide(
                first.claim_id, HumanDecision(label=1, reviewer="ann", note="why"), source="interactive"
            )
            return outcome, await _thread(desk, first.claim_id)

    outcome, snapshot = run(go())
    assert outcome.status == "decided"
    assert snapshot.next == ()
    assert snapshot.values["decided_by"] == "human"
    assert snapshot.values["final_label"] == 1
    assert snapshot.values["human"].reviewer == "ann"
    assert counts(review_ws)["pending_review"] == 23
    assert counts(review_ws)["human"] == 1
    (row,) = reviews(review_ws)
    assert (row["claim_id"], row["reviewer"], row["label"], row["note"], row["resumed_thread"]) == (
        first.claim_id,
        "ann",
        1,
        "why",
        1,
    )
    assert row["judge_label"] == first.verdict.label


def test_undo_forks_the_thread_back_to_waiting_and_it_can_be_decided_again(
    review_settings: Settings, review_ws: Path
) -> None:
    first = waiting_states(review_ws)[0]

    async def go() -> Any:
        async with ReviewDesk(review_settings, RUN_ID) as desk:
            await desk.decide(
                first.claim_id, HumanDecision(label=1, reviewer="ann", note="read the claim"), source="interactive"
            )
            undone = await desk.undo_last("ann")
            waiting = await _thread(desk, first.claim_id)
            again = await desk.decide(
                first.claim_id, HumanDecision(label=0, reviewer="ann", note="read the claim"), source="interactive"
            )
            return undone, waiting, again

    undone, waiting, again = run(go())
    assert undone.review.claim_id == first.claim_id
    assert waiting.next == ("human_review",)
    assert waiting.values.get("human") is None
    assert again.state.final_label == 0
    assert [r["label"] for r in reviews(review_ws, active_only=False)] == [1, 0]
    assert [r["label"] for r in reviews(review_ws)] == [0]
    assert counts(review_ws)["human"] == 1


def test_undo_reaches_a_decision_made_in_an_earlier_session(review_settings: Settings, review_ws: Path) -> None:
    first = waiting_states(review_ws)[0]

    async def decide() -> None:
        async with ReviewDesk(review_settings, RUN_ID) as desk:
            await desk.decide(
                first.claim_id, HumanDecision(label=1, reviewer="ann", note="read the claim"), source="interactive"
            )

    async def undo() -> Any:
        async with ReviewDesk(review_settings, RUN_ID) as desk:
            return await desk.undo_last("ann"), await desk.undo_last("ann")

    run(decide())
    undone, nothing = run(undo())
    assert undone.review.claim_id == first.claim_id
    assert nothing is None
    assert counts(review_ws)["pending_review"] == 24


def test_second_opinion_is_kept_beside_the_first_and_leaves_the_thread_alone(
    review_settings: Settings, review_ws: Path
) -> None:
    first = waiting_states(review_ws)[0]

    async def go() -> Any:
        async with ReviewDesk(review_settings, RUN_ID) as desk:
            await desk.decide(
                first.claim_id, HumanDecision(label=1, reviewer="ann", note="read the claim"), source="interactive"
            )
            second = await desk.decide(
                first.claim_id,
                HumanDecision(label=0, reviewer="bob", note="read the claim"),
                source="interactive",
                second_opinion=True,
            )
            with pytest.raises(RunStateError, match="already has a decision by bob"):
                await desk.decide(
                    first.claim_id,
                    HumanDecision(label=1, reviewer="bob", note="read the claim"),
                    source="interactive",
                    second_opinion=True,
                )
            return second, await _thread(desk, first.claim_id)

    second, snapshot = run(go())
    assert second.status == "second_opinion"
    assert snapshot.values["final_label"] == 1
    assert snapshot.values["human"].reviewer == "ann"
    assert [(r["reviewer"], r["label"], r["resumed_thread"]) for r in reviews(review_ws)] == [
        ("ann", 1, 1),
        ("bob", 0, 0),
    ]


def test_a_crash_between_thread_and_ledger_is_recovered_by_the_next_session(
    review_settings: Settings, review_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = waiting_states(review_ws)[0]

    def crash(self: ReviewStore, review: Any) -> int:
        raise KeyboardInterrupt  # the process dies after the thread was resumed

    async def decide() -> None:
        async with ReviewDesk(review_settings, RUN_ID) as desk:
            await desk.decide(
                first.claim_id, HumanDecision(label=0, reviewer="ann", note="read the claim"), source="interactive"
            )

    with monkeypatch.context() as patch:
        patch.setattr(ReviewStore, "add", crash)
        with pytest.raises(KeyboardInterrupt):
            run(decide())
    assert counts(review_ws)["pending_review"] == 24  # the ledger transaction was rolled back
    assert reviews(review_ws) == []

    async def reconcile() -> int:
        async with ReviewDesk(review_settings, RUN_ID) as desk:
            return await desk.reconcile()

    assert run(reconcile()) == 1
    assert counts(review_ws)["pending_review"] == 23
    (row,) = reviews(review_ws)
    assert (row["claim_id"], row["label"], row["source"]) == (first.claim_id, 0, "recovered")


def test_unknown_run_is_a_clear_error(review_settings: Settings) -> None:
    async def go() -> None:
        async with ReviewDesk(review_settings, "nope"):
            pass

    with pytest.raises(RunStateError, match="unknown run id 'nope'"):
        run(go())


def test_revising_forks_the_thread_and_keeps_the_earlier_decision(review_settings: Settings, review_ws: Path) -> None:
    first = waiting_states(review_ws)[0]

    async def go() -> Any:
        async with ReviewDesk(review_settings, RUN_ID) as desk:
            await desk.decide(first.claim_id, HumanDecision(label=1, reviewer="ann", note="a"), source="interactive")
            outcome = await desk.revise(
                first.claim_id, HumanDecision(label=0, reviewer="ann", note="b"), source="interactive"
            )
            with pytest.raises(RunStateError, match="bob has no decision"):
                await desk.revise(
                    first.claim_id, HumanDecision(label=1, reviewer="bob", note="read the claim"), source="interactive"
                )
            return outcome, await _thread(desk, first.claim_id)

    outcome, snapshot = run(go())
    assert outcome.status == "revised"
    assert snapshot.values["final_label"] == 0 and snapshot.values["human"].note == "b"
    history = reviews(review_ws, active_only=False)
    assert [(r["label"], r["note"], r["undone_at"] is not None) for r in history] == [(1, "a", True), (0, "b", False)]
    assert counts(review_ws)["human"] == 1


def test_a_revision_whose_ledger_commit_was_lost_is_recovered(
    review_settings: Settings, review_ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = waiting_states(review_ws)[0]

    async def decide() -> None:
        async with ReviewDesk(review_settings, RUN_ID) as desk:
            await desk.decide(
                first.claim_id, HumanDecision(label=1, reviewer="ann", note="read the claim"), source="interactive"
            )

    async def revise() -> None:
        async with ReviewDesk(review_settings, RUN_ID) as desk:
            await desk.revise(
                first.claim_id, HumanDecision(label=0, reviewer="ann", note="read the claim"), source="interactive"
            )

    def crash(self: ReviewStore, review: Any) -> int:
        raise KeyboardInterrupt  # the process dies after the thread holds the new decision

    run(decide())
    with monkeypatch.context() as patch:
        patch.setattr(ReviewStore, "add", crash)
        with pytest.raises(KeyboardInterrupt):
            run(revise())
    assert [r["label"] for r in reviews(review_ws)] == [1]  # the ledger transaction was rolled back

    async def reconcile() -> int:
        async with ReviewDesk(review_settings, RUN_ID) as desk:
            return await desk.reconcile()

    assert run(reconcile()) == 1
    assert [(r["label"], r["source"]) for r in reviews(review_ws)] == [(0, "recovered")]
    assert counts(review_ws)["human"] == 1
