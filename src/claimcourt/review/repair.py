"""Setting a claim right after a process died half-way through a decision.

A decision writes three places that no one transaction spans: the claim's thread (the checkpointer),
then the ledger and the reviews table (one store transaction). Killed in between, the thread is the
truth for the decision and the other two are rebuilt from it:

- the thread holds the person's decision but `finalize` never ran (killed between the two nodes):
  the thread is run on to its end, then as below;
- the thread ended decided by a person, the ledger still says waiting: the ledger takes the thread's
  state and the reviews table gets the decision back (source "recovered") unless it already has it;
- the ledger says decided by a person, the thread holds a newer person's decision than the reviews
  table's final one (a revision whose ledger write was lost): the old final is marked undone and the
  thread's decision recorded;
- the ledger says decided by a person, the thread waits again (an undo whose ledger write was lost):
  the ledger follows the thread and the final review is marked undone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from claimcourt.review.queries import WAITING
from claimcourt.store import view
from claimcourt.vocab import ClaimStatus

if TYPE_CHECKING:
    from claimcourt.review.desk import ReviewDesk


async def repair_claim(desk: ReviewDesk, claim_id: str, status: str) -> bool:
    """Bring one claim's ledger row and reviews in line with its thread; True when anything changed."""
    thread = view(await desk.threads.snapshot(claim_id))
    if thread.state is None:
        return False
    if status == WAITING and thread.decision_unfinished:
        await desk.threads.run_on(claim_id)
        thread = view(await desk.threads.snapshot(claim_id))
    state = thread.state
    if state is None:
        return False
    if status == WAITING and state.decided_by == ClaimStatus.HUMAN and state.human is not None:
        human = state.human
        with desk.state_store.transaction():
            desk.ledger.record(desk.run_id, state)
            known = desk.store.active(run_id=desk.run_id, claim_id=claim_id)
            if not any(r.resumed_thread and r.decided_at == human.decided_at for r in known):
                desk.store.add(
                    desk.review_of(state, human, resumed=True, source="recovered", shown=None, shown_at=None)
                )
        return True
    if (
        status == ClaimStatus.HUMAN
        and state.decided_by == ClaimStatus.HUMAN
        and state.human is not None
        and not thread.waiting
    ):
        human = state.human
        recorded = [r for r in desk.store.active(run_id=desk.run_id, claim_id=claim_id) if r.resumed_thread]
        if recorded and all(r.decided_at != human.decided_at for r in recorded):
            with desk.state_store.transaction():
                desk.ledger.record(desk.run_id, state)
                desk.store.mark_undone([r.review_id for r in recorded if r.review_id is not None])
                desk.store.add(
                    desk.review_of(state, human, resumed=True, source="recovered", shown=None, shown_at=None)
                )
            return True
        return False
    if status == ClaimStatus.HUMAN and thread.waiting:
        with desk.state_store.transaction():
            desk.ledger.record(desk.run_id, state)
            finals = [
                r.review_id
                for r in desk.store.active(run_id=desk.run_id, claim_id=claim_id)
                if r.resumed_thread and r.review_id is not None
            ]
            desk.store.mark_undone(finals)
        return True
    return False
