"""Pure routing: no I/O, no models, easy to test."""

from __future__ import annotations

from typing import Literal

from claimcourt.state import ClaimState, Verdict

Route = Literal["finalize", "human_review"]


def choose_route(verdict: Verdict, threshold: float) -> Route:
    """A person decides when the verdict is unreadable or the Judge is less sure than the threshold."""
    if not verdict.readable or verdict.label is None:
        return "human_review"
    return "finalize" if verdict.confidence >= threshold else "human_review"


def after_judge(state: ClaimState) -> Route:
    """The conditional edge out of `judge`: the route the judge node recorded."""
    if state.route is None:
        raise ValueError(f"claim {state.claim_id}: the judge recorded no route")
    return state.route
