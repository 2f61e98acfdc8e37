"""Decisions on an opened run: decide, revise, undo, and reconcile after a process died half-way.

A decision on a waiting claim resumes that claim's LangGraph thread with
`Command(resume=HumanDecision(...).model_dump())`, so `human_review` and `finalize` run and the thread
ends with decided_by='human'. The run ledger and the reviews table are then updated in one store
transaction, taken *before* the thread is touched (the store's write lock), so two review sessions
never resume the same claim twice and each decision is committed before the next claim is shown.
Every decision goes through `review.policy` (`checked`), whatever the face.

If the process dies between the thread write (the checkpointer) and the ledger commit, the thread
already holds the decision; `reconcile` finds it on the next session and brings the ledger and the
reviews table back in line (`review.repair`). Undo forks the thread back to `human_review`, so the claim
waits for a person once more. How a thread is read, resumed and forked: `review.threads`; what a
decision's row holds: `review.records`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from claimcourt.errors import RunStateError
from claimcourt.review.learning import follow_decisions, learn_if_due
from claimcourt.review.opening import OpenRun
from claimcourt.review.policy import Choice, Situation, check_decision, recorded_shown
from claimcourt.review.queries import WAITING
from claimcourt.review.queue import ReviewQueue
from claimcourt.review.records import Outcome, Undone, situation_of
from claimcourt.review.repair import repair_claim
from claimcourt.review.threads import is_waiting
from claimcourt.state import ClaimState, HumanDecision
from claimcourt.store import Review, Source, claim_state, state_from_values
from claimcourt.vocab import ClaimStatus


@dataclass
class Touched:
    """The claims a desk operation changed, and whether it was a new final decision."""

    claims: list[str] = field(default_factory=list)
    decided: bool = False


@dataclass(frozen=True)
class Shown:
    """What the person saw when deciding, as the reviews row keeps it."""

    source: Source
    shown: Sequence[str] | None = None
    shown_at: str | None = None


class Decisions:
    """Decisions on one opened run; leases are checked and released through its queue."""

    def __init__(self, opened: OpenRun, queue: ReviewQueue) -> None:
        self.opened = opened
        self.queue = queue

    def situation(self, state: ClaimState, reviewer: str, *, verdict_shown: bool) -> Situation:
        """What the policy needs to judge a decision of `reviewer` on this claim."""
        history = self.opened.store.history(run_id=self.opened.run_id, claim_id=state.claim_id)
        return situation_of(state, history, reviewer, verdict_shown=verdict_shown)

    def checked(self, state: ClaimState, decision: HumanDecision, choice: Choice) -> HumanDecision:
        """The decision as the policy lets it be recorded (the label an `accept` stands for, what was shown),
        or `ReviewRefused`. Every decision path goes through here."""
        situation = self.situation(state, decision.reviewer or "", verdict_shown=decision.verdict_shown)
        label = check_decision(choice, decision.label, decision.note, situation)
        return decision.model_copy(update={"label": label, "verdict_shown": recorded_shown(situation)})

    async def reconcile(self) -> int:
        """Bring the ledger and the reviews table in line with the threads, after a process died
        half-way through a decision (see `review.repair`). Returns how many claims were corrected."""
        fixed = 0
        for claim in self.queue.claims():
            if claim.status in (WAITING, ClaimStatus.HUMAN) and await repair_claim(
                self.opened, claim.claim_id, claim.status
            ):
                fixed += 1
        self.opened.changed = self.opened.changed or fixed > 0
        return fixed

    @contextmanager
    def _precedents_follow(self) -> Iterator[Touched]:
        """Entered before the decision's transaction: once it has committed, the claims the body names
        get their human precedents in line, and a new decision may refit the Judge (`review.learning`).
        Nothing follows a refused decision."""
        touched = Touched()
        yield touched
        follow_decisions(self.opened.state_store, self.opened.deps.search, touched.claims)
        if touched.decided:
            learn_if_due(self.opened.settings, self.opened.state_store, self.opened.deps.search, self.opened.run_id)

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
        """Record one decision. On a waiting claim it resumes the thread; on a claim a person already
        decided it is kept as a second opinion (asked for, or because another session got there first).
        The review policy is enforced here, whatever the face (`ReviewRefused`); `choice="accept"` records
        the Judge's label. Committed before it returns."""
        decision = HumanDecision.model_validate(decision)
        if not decision.reviewer:
            raise RunStateError("a decision needs a reviewer name")
        seen = Shown(source, shown, shown_at)
        run = self.opened
        with self._precedents_follow() as touched, run.state_store.transaction():
            touched.claims.append(claim_id)
            status = run.ledger.lock_claim(run.run_id, claim_id)
            if status is None:
                raise RunStateError(f"claim '{claim_id}' is not in run '{run.run_id}'")
            holder = self.queue.lease_holder(claim_id)
            if not second_opinion and holder not in (None, decision.reviewer):
                raise RunStateError(f"claim '{claim_id}' is on {holder}'s screen: decide another claim")
            # The decision ends this reviewer's lease on the claim, in the same transaction.
            self.queue.release(claim_id, decision.reviewer)
            if status == WAITING and await repair_claim(run, claim_id, status):
                # The thread held a decision the ledger missed (a process died mid-decision): it is
                # settled now, and this one is kept beside it as below.
                status = run.ledger.statuses(run.run_id, [claim_id]).get(claim_id, status)
                run.changed = True
            snapshot = await run.threads.snapshot(claim_id)
            if status == WAITING and snapshot.values and is_waiting(snapshot):
                touched.decided = True
                return await self._resume(claim_id, state_from_values(snapshot.values), decision, choice, seen)
            state = claim_state(snapshot.values)
            if state is None:
                raise RunStateError(f"claim '{claim_id}' is not debated yet (status {status})")
            review = self._beside(state, status, decision, choice, seen)
            return Outcome(claim_id, review, state, "second_opinion" if second_opinion else "decided_elsewhere")

    async def _resume(
        self, claim_id: str, before: ClaimState, decision: HumanDecision, choice: Choice, seen: Shown
    ) -> Outcome:
        """The final decision on a waiting claim: its thread resumed, the ledger and reviews following."""
        run = self.opened
        decision = self.checked(before, decision, choice)
        state = await run.threads.resume(claim_id, decision)
        review = run.review_of(
            before, decision, resumed=True, source=seen.source, shown=seen.shown, shown_at=seen.shown_at
        )
        run.ledger.record(run.run_id, state)
        # A second opinion left on a claim whose final decision was undone is superseded by this one.
        run.store.mark_undone(
            [
                r.review_id
                for r in run.store.active(run_id=run.run_id, claim_id=claim_id)
                if r.reviewer == decision.reviewer and r.review_id is not None
            ]
        )
        run.store.add(review)
        run.changed = True
        return Outcome(claim_id, review, state, "decided")

    def _beside(self, state: ClaimState, status: str, decision: HumanDecision, choice: Choice, seen: Shown) -> Review:
        """A decision kept beside a person's final one (a second opinion); the thread is not touched."""
        run = self.opened
        if state.decided_by != ClaimStatus.HUMAN:
            raise RunStateError(
                f"claim '{state.claim_id}' is not waiting for a person (decided by {state.decided_by or status})"
            )
        if any(r.reviewer == decision.reviewer for r in run.store.active(run_id=run.run_id, claim_id=state.claim_id)):
            raise RunStateError(f"claim '{state.claim_id}' already has a decision by {decision.reviewer}")
        decision = self.checked(state, decision, choice)
        review = run.review_of(
            state, decision, resumed=False, source=seen.source, shown=seen.shown, shown_at=seen.shown_at
        )
        run.store.add(review)
        return review

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
        """Replace the reviewer's active decision on the claim by a new one, in one ledger transaction. The
        earlier decision keeps its row (marked undone now), so the history holds both; a final decision
        forks the thread back to `human_review` (as undo does) and resumes it with the new one. A revision
        follows the reveal, so it is recorded as made with the verdict shown (`review.policy`)."""
        decision = HumanDecision.model_validate(decision)
        run = self.opened
        with self._precedents_follow() as touched, run.state_store.transaction():
            touched.claims.append(claim_id)
            run.ledger.lock_claim(run.run_id, claim_id)
            mine = [
                r for r in run.store.active(run_id=run.run_id, claim_id=claim_id) if r.reviewer == decision.reviewer
            ]
            earlier = mine[-1] if mine else None
            if earlier is None or earlier.review_id is None:
                raise RunStateError(f"{decision.reviewer} has no decision on claim '{claim_id}' to revise")
            state = await run.threads.current(claim_id)
            if state is None:
                raise RunStateError(f"claim '{claim_id}' has no thread")
            before = state
            decision = self.checked(state, decision, choice)
            if earlier.resumed_thread:
                before = await run.threads.reopen(earlier) or state
                state = await run.threads.resume(claim_id, decision)
                run.ledger.record(run.run_id, state)
            run.store.mark_undone([earlier.review_id])
            review = run.review_of(
                before, decision, resumed=earlier.resumed_thread, source=source, shown=shown, shown_at=shown_at
            )
            run.store.add(review)
            run.changed = True
            return Outcome(claim_id, review, state, "revised")

    async def undo_last(self, reviewer: str) -> Undone | None:
        """Undo this reviewer's latest decision in the run (from this session or an earlier one). A
        decision that finalised the thread forks the thread back to its `human_review` interrupt, so
        the claim waits again; a second opinion is only marked undone."""
        run = self.opened
        with self._precedents_follow() as touched, run.state_store.transaction():
            review = run.store.last_active_by(reviewer, run.run_id)
            if review is None or review.review_id is None:
                return None
            touched.claims.append(review.claim_id)
            run.ledger.lock_claim(run.run_id, review.claim_id)
            state: ClaimState | None = None
            if review.resumed_thread:
                state = await run.threads.reopen(review)
                if state is not None:
                    run.ledger.record(run.run_id, state)
            run.store.mark_undone([review.review_id])
            run.changed = True
            return Undone(review, state)
