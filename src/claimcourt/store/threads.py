"""Reading a claim's LangGraph thread: what it holds and where it stands, worked out once.

The thread is the truth for a claim (the ledger and the reviews table can be rebuilt from it), so
every command that asks "is it waiting? decided? half-way through a decision?" asks here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from claimcourt.state import ClaimState, legacy_thread_id, thread_id
from claimcourt.vocab import ClaimStatus, Node

__all__ = [
    "ThreadView",
    "claim_state",
    "legacy_thread_id",
    "state_from_values",
    "thread_config",
    "thread_id",
    "view",
]


def thread_config(run_id: str, claim_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id(run_id, claim_id)}}


def state_from_values(values: dict[str, Any]) -> ClaimState:
    return ClaimState.model_validate({k: v for k, v in values.items() if not k.startswith("__")})


def claim_state(values: dict[str, Any] | None) -> ClaimState | None:
    """The claim in a checkpoint's values, or None while the thread holds no claim yet: its input
    checkpoint holds only the reducers' defaults (`{'timings': {}}`) when the worker was stopped by
    the lease fence, or killed, before the claim itself was saved. Such a claim is not debated yet."""
    if not values or not values.get("claim_id"):
        return None
    return state_from_values(values)


@dataclass(frozen=True)
class ThreadView:
    """One snapshot of a thread, read."""

    # None when the thread is empty, or holds only defaults (killed while its input was being saved).
    state: ClaimState | None
    next: tuple[str, ...]
    # Some task of the head checkpoint raised an interrupt (the thread waits for a person).
    interrupted: bool
    # The checkpoint's step: -1 for the input checkpoint (nothing ran yet).
    step: int

    @property
    def waiting(self) -> bool:
        """Stopped at the `human_review` interrupt, with no decision in it yet."""
        return self.next == (Node.HUMAN_REVIEW,) and self.interrupted

    @property
    def decided(self) -> bool:
        """Finished: decided by the Judge or by a person."""
        return self.state is not None and self.state.decided_by in (ClaimStatus.JUDGE, ClaimStatus.HUMAN)

    @property
    def decision_unfinished(self) -> bool:
        """A person's decision is in the thread but `finalize` has not run yet (killed in between)."""
        return (
            self.state is not None
            and self.state.human is not None
            and self.state.decided_by != ClaimStatus.HUMAN
            and not self.waiting
        )

    @property
    def settled(self) -> bool:
        """Nothing left to run for this claim until a person decides: decided, or waiting."""
        return self.decided or (
            self.state is not None and self.state.decided_by == ClaimStatus.PENDING_REVIEW and self.interrupted
        )


def view(snapshot: Any) -> ThreadView:
    state = claim_state(snapshot.values)
    metadata = snapshot.metadata or {}
    return ThreadView(
        state=state,
        next=tuple(snapshot.next or ()),
        interrupted=any(task.interrupts for task in snapshot.tasks),
        step=int(metadata.get("step", -1)),
    )
