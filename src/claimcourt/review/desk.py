"""The review desk: where a person's decision meets the claim's thread.

A decision on a waiting claim resumes that claim's LangGraph thread with
`Command(resume=HumanDecision(...).model_dump())`, so `human_review` and `finalize` run and the thread
ends with decided_by='human'. The run ledger and the reviews table are then updated in one store
transaction, taken *before* the thread is touched (the store's write lock), so two review sessions
never resume the same claim twice and each decision is committed before the next claim is shown.

If the process dies between the thread write (checkpoints.sqlite) and the ledger commit, the thread
already holds the decision; `reconcile` finds it on the next session and brings the ledger and the
reviews table back in line. Undo forks the thread back to `human_review`, so the claim waits for a
person once more. How a thread is read, resumed and forked: `review.threads`; what a decision's row
holds: `review.records`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from claimcourt.config import Settings
from claimcourt.deps import Deps, build_deps
from claimcourt.errors import RunStateError, WorkspaceBusyError
from claimcourt.graph.builder import build_graph
from claimcourt.review.learning import follow_decisions, learn_if_due
from claimcourt.review.policy import Choice, Situation, check_decision, recorded_shown, verdict_hidden
from claimcourt.review.queries import WAITING, Order, in_order
from claimcourt.review.records import Outcome, Undone, review_row, situation_of
from claimcourt.review.repair import repair_claim
from claimcourt.review.threads import ClaimThreads, is_waiting
from claimcourt.state import ClaimState, HumanDecision
from claimcourt.store import (
    LedgerClaim,
    LedgerRun,
    Review,
    ReviewStore,
    Source,
    Store,
    claim_state,
    existing_store,
    open_checkpointer,
    state_from_values,
    write_results,
)
from claimcourt.vocab import ClaimStatus

__all__ = ["WAITING", "Order", "ReviewDesk", "WorkspaceBusyError"]


@dataclass
class Touched:
    """The claims a desk operation changed, and whether it was a new final decision."""

    claims: list[str] = field(default_factory=list)
    decided: bool = False


class ReviewDesk:
    """One run's claims, ready for decisions. Use as `async with ReviewDesk(settings, run_id) as desk`.

    `on_wait(message)` is called once when the ledger is busy (a batch run is writing) and the desk
    waits for it.
    """

    def __init__(
        self,
        settings: Settings,
        run_id: str,
        *,
        deps: Deps | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.run_id = run_id
        self.session_id = uuid.uuid4().hex[:12]
        self.on_wait = on_wait
        self._deps = deps
        self._stack = AsyncExitStack()
        # Whether any claim's state changed here (decided, undone, reconciled): the results file follows.
        self.changed = False
        self.state_store: Store
        self.threads: ClaimThreads
        self.deps: Deps
        self.run: LedgerRun

    async def __aenter__(self) -> ReviewDesk:
        found = existing_store(self.settings)
        if found is None:
            raise RunStateError(f"no runs in workspace {self.settings.workspace} (run a batch first)")
        self.state_store = found
        self.state_store.db.on_wait = self.on_wait
        self._stack.callback(self.state_store.close)
        try:
            self.run = self.ledger.run(self.run_id)
            # The thread re-runs `human_review` on resume, which reads the threshold: use the run's own.
            run_settings = self.settings.model_copy(
                update={"threshold": self.run.threshold, "profile": self.run.profile or self.settings.profile}
            )
            self.deps = self._deps or build_deps(run_settings)
            saver = await self._stack.enter_async_context(open_checkpointer(self.settings))
            self.threads = ClaimThreads(build_graph(saver), self.deps, self.run_id)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self.changed:
                self.refresh_results()
        finally:
            await self._stack.aclose()

    @property
    def ledger(self) -> Any:
        return self.state_store.ledger

    @property
    def store(self) -> ReviewStore:
        """The reviews table (the name this desk has always given it)."""
        return self.state_store.reviews

    def refresh_results(self) -> None:
        """Rewrite the run's results files (its default one and every `run -o` file the ledger recorded)
        so they carry the people's labels too. A recorded file deleted since is not written again."""
        default = self.state_store.run_dir(self.run_id) / "results.csv"
        for csv_path in dict.fromkeys([default, *self.ledger.outputs(self.run_id)]):
            if csv_path.exists():
                write_results(self.state_store, self.run_id, csv_path, csv_path.with_suffix(".jsonl"))

    # -- reading ----------------------------------------------------------------------------------
    def claims(self, status: str | None = None) -> list[LedgerClaim]:
        return list(self.ledger.claims(self.run_id, status=status))

    def queue(self, *, order: Order = "confidence", second_opinion: bool = False, reviewer: str = "") -> list[str]:
        """The claims this person should see: waiting ones, or (second opinion) those a person decided
        and this reviewer has not."""
        if second_opinion:
            decided_by = self.store.reviewers_of(self.run_id)
            claims = [c for c in self.claims(ClaimStatus.HUMAN) if reviewer not in decided_by.get(c.claim_id, set())]
        else:
            claims = self.claims(WAITING)
        return [c.claim_id for c in in_order(claims, order)]

    # -- leases: one claim on one reviewer's screen ------------------------------------------------
    def take_next(self, reviewer: str, *, second_opinion: bool = False, order: Order = "confidence") -> str | None:
        """Lease the next claim this reviewer should see (as `queue` orders them) that no one else
        holds unexpired, and return its id; None when there is none. A second opinion is not
        exclusive: the first claim this reviewer has not decided is returned without a lease."""
        candidates = self.queue(order=order, second_opinion=second_opinion, reviewer=reviewer)
        if second_opinion:
            return candidates[0] if candidates else None
        return self.state_store.review_leases.take_first(
            self.run_id,
            candidates,
            reviewer,
            lease_s=self.settings.review_lease_s,
            still_wanted=lambda claim_id: self.ledger.statuses(self.run_id, [claim_id]).get(claim_id) == WAITING,
        )

    def take(self, claim_id: str, reviewer: str) -> bool:
        """Lease this one claim to the reviewer if no one else holds it and it still waits."""
        return (
            self.state_store.review_leases.take_first(
                self.run_id,
                [claim_id],
                reviewer,
                lease_s=self.settings.review_lease_s,
                still_wanted=lambda c: self.ledger.statuses(self.run_id, [c]).get(c) == WAITING,
            )
            is not None
        )

    def renew(self, claim_id: str, reviewer: str) -> None:
        """Keep the claim on this reviewer's screen for another `review_lease_s`; a RunStateError when
        the lease lapsed and someone else took the claim meanwhile."""
        self.state_store.review_leases.renew(self.run_id, claim_id, reviewer, lease_s=self.settings.review_lease_s)

    def release(self, claim_id: str, reviewer: str) -> None:
        """Give the claim back (skipped, or the session ends): others may take it at once."""
        self.state_store.review_leases.release(self.run_id, claim_id, reviewer)

    def lease_holder(self, claim_id: str) -> str | None:
        return self.state_store.review_leases.holder(self.run_id, claim_id)

    def blind_for(self, state: ClaimState, *, requested: bool, reviewer: str | None = None) -> bool:
        """Whether a review screen must hide the Judge's verdict on this claim from `reviewer`
        (`policy.verdict_hidden`): asked for blind, or an audit claim, and not decided by them before."""
        return verdict_hidden(
            blind=requested,
            audit=state.audit,
            audit_blind=self.settings.audit_blind,
            decided_by_them=reviewer is not None and self.decided_by(reviewer, state.claim_id),
        )

    def decided_by(self, reviewer: str, claim_id: str) -> bool:
        """Whether this person ever decided the claim (undone decisions too: the verdict was revealed)."""
        return any(r.reviewer == reviewer for r in self.store.history(run_id=self.run_id, claim_id=claim_id))

    def situation(self, state: ClaimState, reviewer: str, *, verdict_shown: bool) -> Situation:
        """What the policy needs to judge a decision of `reviewer` on this claim."""
        history = self.store.history(run_id=self.run_id, claim_id=state.claim_id)
        return situation_of(state, history, reviewer, verdict_shown=verdict_shown)

    def checked(self, state: ClaimState, decision: HumanDecision, choice: Choice) -> HumanDecision:
        """The decision as the policy lets it be recorded (the label an `accept` stands for, what was shown),
        or `ReviewRefused`. Every decision path of the desk goes through here."""
        situation = self.situation(state, decision.reviewer or "", verdict_shown=decision.verdict_shown)
        label = check_decision(choice, decision.label, decision.note, situation)
        return decision.model_copy(update={"label": label, "verdict_shown": recorded_shown(situation)})

    def waiting_count(self) -> int:
        return self.ledger.counts(self.run_id)[WAITING]

    # -- reconciling ------------------------------------------------------------------------------
    async def reconcile(self) -> int:
        """Bring the ledger and the reviews table in line with the threads, after a process died
        half-way through a decision (see `review.repair`). Returns how many claims were corrected."""
        fixed = 0
        for claim in self.claims():
            if claim.status in (WAITING, ClaimStatus.HUMAN) and await repair_claim(self, claim.claim_id, claim.status):
                fixed += 1
        self.changed = self.changed or fixed > 0
        return fixed

    # -- deciding ---------------------------------------------------------------------------------
    @contextmanager
    def _precedents_follow(self) -> Iterator[Touched]:
        """Entered before the decision's transaction: once it has committed, the claims the body names
        get their human precedents in line, and a new decision may refit the Judge (`review.learning`).
        Nothing follows a refused decision."""
        touched = Touched()
        yield touched
        follow_decisions(self.state_store, self.deps.search, touched.claims)
        if touched.decided:
            learn_if_due(self.settings, self.state_store, self.deps.search, self.run_id)

    def review_of(
        self,
        state: ClaimState,
        decision: HumanDecision,
        *,
        resumed: bool,
        source: Source,
        shown: Sequence[str] | None,
        shown_at: str | None,
    ) -> Review:
        return review_row(
            state,
            decision,
            run_id=self.run_id,
            session_id=self.session_id,
            resumed=resumed,
            source=source,
            shown=shown,
            shown_at=shown_at,
        )

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
        with self._precedents_follow() as touched, self.state_store.transaction():
            touched.claims.append(claim_id)
            status = self.ledger.lock_claim(self.run_id, claim_id)
            if status is None:
                raise RunStateError(f"claim '{claim_id}' is not in run '{self.run_id}'")
            holder = self.lease_holder(claim_id)
            if not second_opinion and holder not in (None, decision.reviewer):
                raise RunStateError(f"claim '{claim_id}' is on {holder}'s screen: decide another claim")
            # The decision ends this reviewer's lease on the claim, in the same transaction.
            self.release(claim_id, decision.reviewer)
            if status == WAITING and await repair_claim(self, claim_id, status):
                # The thread held a decision the ledger missed (a process died mid-decision): it is
                # settled now, and this one is kept beside it as below.
                status = self.ledger.statuses(self.run_id, [claim_id]).get(claim_id, status)
                self.changed = True
            snapshot = await self.threads.snapshot(claim_id)
            if status == WAITING and snapshot.values and is_waiting(snapshot):
                before = state_from_values(snapshot.values)
                decision = self.checked(before, decision, choice)
                state = await self.threads.resume(claim_id, decision)
                review = self.review_of(before, decision, resumed=True, source=source, shown=shown, shown_at=shown_at)
                self.ledger.record(self.run_id, state)
                # A second opinion left on a claim whose final decision was undone is superseded by this one.
                self.store.mark_undone(
                    [
                        r.review_id
                        for r in self.store.active(run_id=self.run_id, claim_id=claim_id)
                        if r.reviewer == decision.reviewer and r.review_id is not None
                    ]
                )
                self.store.add(review)
                self.changed = True
                touched.decided = True
                return Outcome(claim_id, review, state, "decided")
            thread_state = claim_state(snapshot.values)
            if thread_state is None:
                raise RunStateError(f"claim '{claim_id}' is not debated yet (status {status})")
            state = thread_state
            if state.decided_by != ClaimStatus.HUMAN:
                raise RunStateError(
                    f"claim '{claim_id}' is not waiting for a person (decided by {state.decided_by or status})"
                )
            if any(r.reviewer == decision.reviewer for r in self.store.active(run_id=self.run_id, claim_id=claim_id)):
                raise RunStateError(f"claim '{claim_id}' already has a decision by {decision.reviewer}")
            decision = self.checked(state, decision, choice)
            review = self.review_of(state, decision, resumed=False, source=source, shown=shown, shown_at=shown_at)
            self.store.add(review)
            return Outcome(claim_id, review, state, "second_opinion" if second_opinion else "decided_elsewhere")

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
        with self._precedents_follow() as touched, self.state_store.transaction():
            touched.claims.append(claim_id)
            self.ledger.lock_claim(self.run_id, claim_id)
            mine = [
                r for r in self.store.active(run_id=self.run_id, claim_id=claim_id) if r.reviewer == decision.reviewer
            ]
            earlier = mine[-1] if mine else None
            if earlier is None or earlier.review_id is None:
                raise RunStateError(f"{decision.reviewer} has no decision on claim '{claim_id}' to revise")
            state = await self.threads.current(claim_id)
            if state is None:
                raise RunStateError(f"claim '{claim_id}' has no thread")
            before = state
            decision = self.checked(state, decision, choice)
            if earlier.resumed_thread:
                before = await self.threads.reopen(earlier) or state
                state = await self.threads.resume(claim_id, decision)
                self.ledger.record(self.run_id, state)
            self.store.mark_undone([earlier.review_id])
            review = self.review_of(
                before, decision, resumed=earlier.resumed_thread, source=source, shown=shown, shown_at=shown_at
            )
            self.store.add(review)
            self.changed = True
            return Outcome(claim_id, review, state, "revised")

    def remember(self, reviewer: str, claim_id: str) -> None:
        """Note the claim the reviewer has on screen, for the next session; skipped while the workspace is busy."""
        with suppress(WorkspaceBusyError):
            self.store.remember_position(self.run_id, reviewer, claim_id)

    # -- undoing ----------------------------------------------------------------------------------
    async def undo_last(self, reviewer: str) -> Undone | None:
        """Undo this reviewer's latest decision in the run (from this session or an earlier one). A
        decision that finalised the thread forks the thread back to its `human_review` interrupt, so
        the claim waits again; a second opinion is only marked undone."""
        with self._precedents_follow() as touched, self.state_store.transaction():
            review = self.store.last_active_by(reviewer, self.run_id)
            if review is None or review.review_id is None:
                return None
            touched.claims.append(review.claim_id)
            self.ledger.lock_claim(self.run_id, review.claim_id)
            state: ClaimState | None = None
            if review.resumed_thread:
                state = await self.threads.reopen(review)
                if state is not None:
                    self.ledger.record(self.run_id, state)
            self.store.mark_undone([review.review_id])
            self.changed = True
            return Undone(review, state)


async def reconcile_run(settings: Settings, run_id: str) -> int:
    """Settle the claims of a run left half-decided by a killed session (see `review.repair`), so that
    commands that only read (pending, export) agree with the threads."""
    async with ReviewDesk(settings, run_id) as desk:
        return await desk.reconcile()
