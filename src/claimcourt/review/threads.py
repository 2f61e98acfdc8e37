"""One run's claim threads in the checkpointer, as the review desk moves them.

A person's decision resumes the thread waiting at `human_review` with
`Command(resume=HumanDecision(...).model_dump())`, so `human_review` and `finalize` run and the thread
ends decided by a person. Undo forks the thread from its checkpoint before `human_review`: replaying
that node interrupts again, so the claim waits for a person once more, and the decision stays in the
thread's history. The desk decides when; this module only knows how.
"""

from __future__ import annotations

from typing import Any

from langgraph.types import Command

from claimcourt.deps import Deps
from claimcourt.errors import RunStateError
from claimcourt.state import ClaimState, HumanDecision
from claimcourt.store import Review, claim_state, state_from_values, thread_config, view
from claimcourt.vocab import ClaimStatus, Node


def is_waiting(snapshot: Any) -> bool:
    """The thread stopped at the `human_review` interrupt."""
    return view(snapshot).waiting


class ClaimThreads:
    """Read one claim's thread, run it on, resume it with a decision, or fork it back to review."""

    def __init__(self, graph: Any, deps: Deps, run_id: str) -> None:
        self.graph = graph
        self.deps = deps
        self.run_id = run_id

    def config(self, claim_id: str) -> dict[str, Any]:
        return thread_config(self.run_id, claim_id)

    async def snapshot(self, claim_id: str) -> Any:
        return await self.graph.aget_state(self.config(claim_id))

    async def current(self, claim_id: str) -> ClaimState | None:
        return claim_state((await self.snapshot(claim_id)).values)

    async def waiting_state(self, claim_id: str) -> ClaimState | None:
        """The claim's state if its thread still waits for a person, else None."""
        snapshot = await self.snapshot(claim_id)
        return claim_state(snapshot.values) if is_waiting(snapshot) else None

    async def run_on(self, claim_id: str) -> None:
        """Run a thread that stopped between two nodes on to its end (or its next interrupt)."""
        await self.graph.ainvoke(None, self.config(claim_id), context=self.deps)

    async def resume(self, claim_id: str, decision: HumanDecision) -> ClaimState:
        """Resume the waiting thread with the decision; its state once `finalize` has run."""
        await self.graph.ainvoke(Command(resume=decision.model_dump()), self.config(claim_id), context=self.deps)
        state = await self.current(claim_id)
        if state is None or state.decided_by != ClaimStatus.HUMAN:
            raise RunStateError(f"claim '{claim_id}': the thread did not finish after the decision")
        return state

    async def reopen(self, review: Review) -> ClaimState | None:
        """Fork the thread that `review` decided back to its `human_review` interrupt; its waiting state,
        or None when it already waits (an earlier undo whose ledger commit was lost)."""
        snapshot = await self.snapshot(review.claim_id)
        current = claim_state(snapshot.values)
        if current is None:
            raise RunStateError(f"claim '{review.claim_id}' has no thread to undo")
        if is_waiting(snapshot):
            return None
        if current.human is None or current.human.decided_at != review.decided_at:
            by = current.human.reviewer if current.human else "nobody"
            raise RunStateError(f"claim '{review.claim_id}' was decided again since (by {by}); nothing to undo there")
        fork = await self._checkpoint_before_review(snapshot)
        # Replaying from the checkpoint before `human_review` runs that node again: it interrupts, and the
        # new checkpoint (waiting for a person) becomes the head of the thread. The decision stays in the
        # thread's history.
        await self.graph.ainvoke(None, fork.config, context=self.deps)
        after = await self.snapshot(review.claim_id)
        if not is_waiting(after):
            raise RunStateError(f"claim '{review.claim_id}': undo did not bring the thread back to review")
        return state_from_values(after.values)

    async def _checkpoint_before_review(self, snapshot: Any) -> Any:
        node = snapshot
        while node is not None and node.parent_config is not None:
            node = await self.graph.aget_state(node.parent_config)
            if tuple(node.next) == (Node.HUMAN_REVIEW,):
                return node
        raise RunStateError("the claim's thread has no checkpoint before human review to return to")
