"""Pure routing: no I/O, no models, easy to test."""

from __future__ import annotations

import hashlib

from claimcourt.state import ClaimState, Verdict
from claimcourt.vocab import Node, Route


def audit_draw(seed: int, claim_id: str) -> float:
    """A uniform number in [0, 1) fixed by the run's audit seed and the claim id: the same on every
    resume, in every process, whatever order the claims are debated in."""
    digest = hashlib.sha256(f"{seed}:{claim_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def is_audited(seed: int | None, claim_id: str, rate: float) -> bool:
    """Whether the audit sample holds this claim (a share `rate` of all claims, drawn independently of
    the verdict; only those the Judge would decide alone are sent to a person for it)."""
    return seed is not None and rate > 0 and audit_draw(seed, claim_id) < rate


def choose_route(verdict: Verdict, threshold: float) -> Route:
    """A person decides when the verdict is unreadable or the Judge is less sure than the threshold."""
    if not verdict.readable or verdict.label is None:
        return Node.HUMAN_REVIEW
    return Node.FINALIZE if verdict.confidence >= threshold else Node.HUMAN_REVIEW


def route_with_audit(verdict: Verdict, threshold: float, *, audited: bool) -> tuple[Route, bool]:
    """The route, and whether the claim goes to a person as an audit (it would be decided alone)."""
    route = choose_route(verdict, threshold)
    if route == Node.FINALIZE and audited:
        return Node.HUMAN_REVIEW, True
    return route, False


def after_judge(state: ClaimState) -> Route:
    """The conditional edge out of `judge`: the route the judge node recorded."""
    if state.route is None:
        raise ValueError(f"claim {state.claim_id}: the judge recorded no route")
    return state.route
