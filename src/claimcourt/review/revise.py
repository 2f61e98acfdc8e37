"""Revising a decision: a person changes their mind about a claim they already decided.

A revision is a new decision; the old one is kept (its reviews row is marked undone, and the thread
keeps it in its history). For the decision that finalised the claim's thread, the thread is forked
back to its `human_review` interrupt and resumed with the new decision, so the thread, the ledger and
the reviews table agree again, all inside one ledger write transaction. A second opinion is replaced
by a new second opinion.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from langgraph.types import Command

from claimcourt.errors import RunStateError
from claimcourt.review.desk import Outcome, ReviewDesk, is_waiting
from claimcourt.state import HumanDecision
from claimcourt.store import Source


async def revise(
    desk: ReviewDesk,
    claim_id: str,
    decision: HumanDecision | dict[str, Any],
    *,
    source: Source,
    shown: Sequence[str] | None = None,
    shown_at: str | None = None,
) -> Outcome:
    """Replace the reviewer's active decision on `claim_id` with `decision`. Committed before it returns."""
    decision = HumanDecision.model_validate(decision)
    reviewer = decision.reviewer or ""
    if not reviewer:
        raise RunStateError("a decision needs a reviewer name")
    with desk.state_store.transaction():
        desk.ledger.lock_claim(desk.run_id, claim_id)
        mine = [r for r in desk.store.active(run_id=desk.run_id, claim_id=claim_id) if r.reviewer == reviewer]
        old = mine[-1] if mine else None
        if old is None or old.review_id is None:
            raise RunStateError(f"{reviewer} has no decision on claim '{claim_id}' to revise")
        old_id = old.review_id
        status: Literal["decided", "second_opinion"]
        if old.resumed_thread:
            waiting = await desk._reopen_thread(old)
            snapshot = await desk.snapshot(claim_id)
            if waiting is None and not is_waiting(snapshot):
                raise RunStateError(f"claim '{claim_id}': the thread could not be brought back to review")
            before = await desk.current(claim_id)
            await desk.graph.ainvoke(Command(resume=decision.model_dump()), desk.config(claim_id), context=desk.deps)
            state = await desk.current(claim_id)
            if before is None or state is None or state.decided_by != "human":
                raise RunStateError(f"claim '{claim_id}': the thread did not finish after the revision")
            review = desk.review_of(before, decision, resumed=True, source=source, shown=shown, shown_at=shown_at)
            desk.ledger.record(desk.run_id, state)
            status = "decided"
        else:
            state = await desk.current(claim_id)
            if state is None:
                raise RunStateError(f"claim '{claim_id}' has no thread")
            review = desk.review_of(state, decision, resumed=False, source=source, shown=shown, shown_at=shown_at)
            status = "second_opinion"
        desk.store.mark_undone([old_id])
        desk.store.add(review)
        desk.changed = True
        return Outcome(claim_id, review, state, status)
