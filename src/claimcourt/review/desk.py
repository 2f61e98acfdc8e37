"""The review desk: where a person's decision meets the claim's thread. The one the faces open.

It is three parts over one opened run: opening and closing (`review.opening`: the store, the run's
settings, the backend, the threads; closing rewrites the results files), the queue and its leases
(`review.queue`), and the decisions (`review.decisions`, which enforces `review.policy` and reconciles
after a process died half-way through one). `ReviewDesk` is the opened run, with the queue's and the
decisions' entry points on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from claimcourt.config import Settings
from claimcourt.errors import WorkspaceBusyError
from claimcourt.review.decisions import Decisions
from claimcourt.review.opening import OpenRun
from claimcourt.review.policy import Choice, Situation
from claimcourt.review.queries import WAITING, Order
from claimcourt.review.queue import ReviewQueue
from claimcourt.review.records import Outcome, Undone
from claimcourt.state import ClaimState, HumanDecision
from claimcourt.store import LedgerClaim, Source

__all__ = ["WAITING", "Order", "ReviewDesk", "WorkspaceBusyError"]


class ReviewDesk(OpenRun):
    """One run's claims, ready for decisions. Use as `async with ReviewDesk(settings, run_id) as desk`.

    `on_wait(message)` is called once when the ledger is busy (a batch run is writing) and the desk
    waits for it.
    """

    # The desk's two other parts, over this opened run (built on first use: the run's own `__init__`
    # takes the arguments, and the desk adds none).
    @cached_property
    def review_queue(self) -> ReviewQueue:
        return ReviewQueue(self)

    @cached_property
    def decisions(self) -> Decisions:
        return Decisions(self, self.review_queue)

    # -- the queue and its leases (`review.queue`) ----------------------------------------------------
    def claims(self, status: str | None = None) -> list[LedgerClaim]:
        return self.review_queue.claims(status)

    def queue(self, *, order: Order = "confidence", second_opinion: bool = False, reviewer: str = "") -> list[str]:
        return self.review_queue.queue(order=order, second_opinion=second_opinion, reviewer=reviewer)

    def waiting_count(self) -> int:
        return self.review_queue.waiting_count()

    def take_next(self, reviewer: str, *, second_opinion: bool = False, order: Order = "confidence") -> str | None:
        return self.review_queue.take_next(reviewer, second_opinion=second_opinion, order=order)

    def take(self, claim_id: str, reviewer: str) -> bool:
        return self.review_queue.take(claim_id, reviewer)

    def renew(self, claim_id: str, reviewer: str) -> None:
        self.review_queue.renew(claim_id, reviewer)

    def release(self, claim_id: str, reviewer: str) -> None:
        self.review_queue.release(claim_id, reviewer)

    def lease_holder(self, claim_id: str) -> str | None:
        return self.review_queue.lease_holder(claim_id)

    def remember(self, reviewer: str, claim_id: str) -> None:
        self.review_queue.remember(reviewer, claim_id)

    def decided_by(self, reviewer: str, claim_id: str) -> bool:
        return self.review_queue.decided_by(reviewer, claim_id)

    def blind_for(self, state: ClaimState, *, requested: bool, reviewer: str | None = None) -> bool:
        return self.review_queue.blind_for(state, requested=requested, reviewer=reviewer)

    # -- decisions (`review.decisions`) -------------------------------------------------------------
    def situation(self, state: ClaimState, reviewer: str, *, verdict_shown: bool) -> Situation:
        return self.decisions.situation(state, reviewer, verdict_shown=verdict_shown)

    def checked(self, state: ClaimState, decision: HumanDecision, choice: Choice) -> HumanDecision:
        return self.decisions.checked(state, decision, choice)

    async def reconcile(self) -> int:
        return await self.decisions.reconcile()

    async def decide(
        self,
        claim_id: str,
        decision: HumanDecision | dict[str, Any],
        *,
        source: Source,
        shown: Sequence[str] | None = None,
        shown_at: str | None = None,
        second_opinion: bool = False,
        choice: Choice = "label",
    ) -> Outcome:
        return await self.decisions.decide(
            claim_id,
            decision,
            source=source,
            shown=shown,
            shown_at=shown_at,
            second_opinion=second_opinion,
            choice=choice,
        )

    async def revise(
        self,
        claim_id: str,
        decision: HumanDecision | dict[str, Any],
        *,
        source: Source,
        shown: Sequence[str] | None = None,
        shown_at: str | None = None,
        choice: Choice = "label",
    ) -> Outcome:
        return await self.decisions.revise(
            claim_id, decision, source=source, shown=shown, shown_at=shown_at, choice=choice
        )

    async def undo_last(self, reviewer: str) -> Undone | None:
        return await self.decisions.undo_last(reviewer)


async def reconcile_run(settings: Settings, run_id: str) -> int:
    """Settle the claims of a run left half-decided by a killed session (see `review.repair`), so that
    commands that only read (pending, export) agree with the threads."""
    async with ReviewDesk(settings, run_id) as desk:
        return await desk.reconcile()
