"""The claims waiting on an opened run, in the order a person should see them, and the leases that keep
one claim on one reviewer's screen; what a screen may show of a claim to a reviewer (`policy.verdict_hidden`).
"""

from __future__ import annotations

from contextlib import suppress

from claimcourt.errors import WorkspaceBusyError
from claimcourt.review.opening import OpenRun
from claimcourt.review.policy import verdict_hidden
from claimcourt.review.queries import WAITING, Order, in_order
from claimcourt.state import ClaimState
from claimcourt.store import LedgerClaim
from claimcourt.vocab import ClaimStatus


class ReviewQueue:
    """The queue and leases of one opened run."""

    def __init__(self, opened: OpenRun) -> None:
        self.opened = opened

    def claims(self, status: str | None = None) -> list[LedgerClaim]:
        return list(self.opened.ledger.claims(self.opened.run_id, status=status))

    def queue(self, *, order: Order = "confidence", second_opinion: bool = False, reviewer: str = "") -> list[str]:
        """The claims this person should see: waiting ones, or (second opinion) those a person decided
        and this reviewer has not."""
        if second_opinion:
            decided_by = self.opened.store.reviewers_of(self.opened.run_id)
            claims = [c for c in self.claims(ClaimStatus.HUMAN) if reviewer not in decided_by.get(c.claim_id, set())]
        else:
            claims = self.claims(WAITING)
        return [c.claim_id for c in in_order(claims, order)]

    def waiting_count(self) -> int:
        return self.opened.ledger.counts(self.opened.run_id)[WAITING]

    def _still_waiting(self, claim_id: str) -> bool:
        return self.opened.ledger.statuses(self.opened.run_id, [claim_id]).get(claim_id) == WAITING

    def take_next(self, reviewer: str, *, second_opinion: bool = False, order: Order = "confidence") -> str | None:
        """Lease the next claim this reviewer should see (as `queue` orders them) that no one else
        holds unexpired, and return its id; None when there is none. A second opinion is not
        exclusive: the first claim this reviewer has not decided is returned without a lease."""
        candidates = self.queue(order=order, second_opinion=second_opinion, reviewer=reviewer)
        if second_opinion:
            return candidates[0] if candidates else None
        return self.opened.state_store.review_leases.take_first(
            self.opened.run_id,
            candidates,
            reviewer,
            lease_s=self.opened.settings.review_lease_s,
            still_wanted=self._still_waiting,
        )

    def take(self, claim_id: str, reviewer: str) -> bool:
        """Lease this one claim to the reviewer if no one else holds it and it still waits."""
        return (
            self.opened.state_store.review_leases.take_first(
                self.opened.run_id,
                [claim_id],
                reviewer,
                lease_s=self.opened.settings.review_lease_s,
                still_wanted=self._still_waiting,
            )
            is not None
        )

    def renew(self, claim_id: str, reviewer: str) -> None:
        """Keep the claim on this reviewer's screen for another `review_lease_s`; a RunStateError when
        the lease lapsed and someone else took the claim meanwhile."""
        self.opened.state_store.review_leases.renew(
            self.opened.run_id, claim_id, reviewer, lease_s=self.opened.settings.review_lease_s
        )

    def release(self, claim_id: str, reviewer: str) -> None:
        """Give the claim back (skipped, or the session ends): others may take it at once."""
        self.opened.state_store.review_leases.release(self.opened.run_id, claim_id, reviewer)

    def lease_holder(self, claim_id: str) -> str | None:
        return self.opened.state_store.review_leases.holder(self.opened.run_id, claim_id)

    def remember(self, reviewer: str, claim_id: str) -> None:
        """Note the claim the reviewer has on screen, for the next session; skipped while the workspace is busy."""
        with suppress(WorkspaceBusyError):
            self.opened.store.remember_position(self.opened.run_id, reviewer, claim_id)

    def decided_by(self, reviewer: str, claim_id: str) -> bool:
        """Whether this person ever decided the claim (undone decisions too: the verdict was revealed)."""
        return any(
            r.reviewer == reviewer for r in self.opened.store.history(run_id=self.opened.run_id, claim_id=claim_id)
        )

    def blind_for(self, state: ClaimState, *, requested: bool, reviewer: str | None = None) -> bool:
        """Whether a review screen must hide the Judge's verdict on this claim from `reviewer`
        (`policy.verdict_hidden`): asked for blind, or an audit claim, and not decided by them before."""
        return verdict_hidden(
            blind=requested,
            audit=state.audit,
            audit_blind=self.opened.settings.audit_blind,
            decided_by_them=reviewer is not None and self.decided_by(reviewer, state.claim_id),
        )
