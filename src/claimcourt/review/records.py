"""What a decision becomes: its outcome, its row in the reviews table, and what the person was shown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from claimcourt.display import one_line
from claimcourt.review.policy import Situation, label_name
from claimcourt.state import ClaimState, HumanDecision
from claimcourt.store import Review, Source


@dataclass(frozen=True)
class Outcome:
    """What became of one decision."""

    claim_id: str
    review: Review
    state: ClaimState
    # "decided": resumed the thread; "second_opinion": kept beside an earlier decision (the thread is
    # untouched); "decided_elsewhere": the claim was decided meanwhile by another session, this
    # decision is kept as a second opinion.
    # "revised": replaced the reviewer's earlier decision, which stays in the history.
    status: Literal["decided", "second_opinion", "decided_elsewhere", "revised"]


@dataclass(frozen=True)
class Undone:
    review: Review
    state: ClaimState | None


def outcome_said(outcome: Outcome, *, revealed: bool) -> str:
    """What every face tells the person after a decision: what was saved and the Judge's verdict (the
    reveal, after a decision made without it), and whether another session got there first."""
    verb = "revised" if outcome.status == "revised" else "saved"
    line = f"{verb} {one_line(outcome.claim_id)} → {label_name(outcome.review.label)}"
    verdict = outcome.state.verdict
    if verdict is not None and verdict.readable and verdict.label is not None:
        line += f"; the Judge said {label_name(verdict.label)} at {verdict.confidence:.2f}"
        if revealed:
            line += " (revealed after your decision)"
    if outcome.status == "decided_elsewhere":
        line += "; decided meanwhile by another reviewer: yours is kept as a second opinion"
    return line


def judge_label(state: ClaimState) -> int | None:
    return state.verdict.label if state.verdict is not None and state.verdict.readable else None


def situation_of(state: ClaimState, history: Sequence[Review], reviewer: str, *, verdict_shown: bool) -> Situation:
    """What the review policy needs to judge `reviewer`'s decision on this claim: the Judge's label,
    whether the verdict is on their screen, and their earlier decisions in the claim's `history`
    (undone ones too: each was followed by the reveal)."""
    mine = [r for r in history if r.reviewer == reviewer]
    return Situation(
        judge_label=judge_label(state),
        verdict_shown=verdict_shown,
        decided_before=bool(mine),
        decided_blind_before=any(not r.verdict_shown for r in mine),
    )


def default_shown(verdict_shown: bool) -> tuple[str, ...]:
    base = ("claim", "neighbours", "advocate", "skeptic")
    return (*base, "verdict") if verdict_shown else base


def review_row(
    state: ClaimState,
    decision: HumanDecision,
    *,
    run_id: str,
    session_id: str,
    resumed: bool,
    source: Source,
    shown: Sequence[str] | None,
    shown_at: str | None,
) -> Review:
    """The reviews-table row of a decision on `state` (the claim as the person saw it)."""
    if shown is None:
        shown = default_shown(decision.verdict_shown)
    elif decision.verdict_shown and "verdict" not in shown and "decisions file" not in shown:
        # The policy records a decision after the reveal as shown, whatever the screen drew this time.
        shown = (*shown, "verdict")
    return Review(
        run_id=run_id,
        claim_id=state.claim_id,
        reviewer=decision.reviewer or "",
        label=decision.label,
        note=decision.note,
        verdict_shown=decision.verdict_shown,
        shown=tuple(shown),
        judge_label=judge_label(state),
        judge_confidence=state.verdict.confidence if state.verdict is not None else None,
        resumed_thread=resumed,
        source=source,
        session_id=session_id,
        shown_at=shown_at,
        decided_at=decision.decided_at,
    )
