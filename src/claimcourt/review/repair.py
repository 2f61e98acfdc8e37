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

from claimcourt.review.opening import OpenRun
from claimcourt.review.queries import WAITING
from claimcourt.store import view
from claimcourt.vocab import ClaimStatus


async def repair_claim(run: OpenRun, claim_id: str, status: str) -> bool:
    """Bring one claim's ledger row and reviews in line with its thread; True when anything changed. It
    needs only the opened run (its threads, store and session), not the desk's queue or decisions."""
    thread = view(await run.threads.snapshot(claim_id))
    if thread.state is None:
        return False
    if status == WAITING and thread.decision_unfinished:
        await run.threads.run_on(claim_id)
        thread = view(await run.threads.snapshot(claim_id))
    state = thread.state
    if state is None:
        return False
    if status == WAITING and state.decided_by == ClaimStatus.HUMAN and state.human is not None:
        human = state.human
        with run.state_store.transaction():
            run.ledger.record(run.run_id, state)
            known = run.store.active(run_id=run.run_id, claim_id=claim_id)
            if not any(r.resumed_thread and r.decided_at == human.decided_at for r in known):
                run.store.add(run.review_of(state, human, resumed=True, source="recovered", shown=None, shown_at=None))
        return True
    if (
        status == ClaimStatus.HUMAN
        and state.decided_by == ClaimStatus.HUMAN
        and state.human is not None
        and not thread.waiting
    ):
        human = state.human
        recorded = [r for r in run.store.active(run_id=run.run_id, claim_id=claim_id) if r.resumed_thread]
        if recorded and all(r.decided_at != human.decided_at for r in recorded):
            with run.state_store.transaction():
                run.ledger.record(run.run_id, state)
                run.store.mark_undone([r.review_id for r in recorded if r.review_id is not None])
                run.store.add(run.review_of(state, human, resumed=True, source="recovered", shown=None, shown_at=None))
            return True
        return False
    if status == ClaimStatus.HUMAN and thread.waiting:
        with run.state_store.transaction():
            run.ledger.record(run.run_id, state)
            finals = [
                r.review_id
                for r in run.store.active(run_id=run.run_id, claim_id=claim_id)
                if r.resumed_thread and r.review_id is not None
            ]
            run.store.mark_undone(finals)
        return True
    return False
