"""The review desk: where a person's decision meets the claim's thread.

A decision on a waiting claim resumes that claim's LangGraph thread with
`Command(resume=HumanDecision(...).model_dump())`, so `human_review` and `finalize` run and the thread
ends with decided_by='human'. The run ledger and the reviews table are then updated in one SQLite
transaction, taken *before* the thread is touched (BEGIN IMMEDIATE on runs.sqlite), so two review
sessions never resume the same claim twice and each decision is committed before the next claim is
shown.

If the process dies between the thread write (checkpoints.sqlite) and the ledger commit, the thread
already holds the decision; `reconcile` finds it on the next session and brings the ledger and the
reviews table back in line. Undo forks the thread from its checkpoint before `human_review`
(replaying that node interrupts again), so the claim waits for a person once more.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Literal

from langgraph.types import Command

from claimcourt.config import Settings
from claimcourt.deps import Deps, build_deps
from claimcourt.errors import ClaimcourtError, RunStateError
from claimcourt.graph.builder import build_graph
from claimcourt.review.store import Review, ReviewStore, Source
from claimcourt.runner import write_results
from claimcourt.state import ClaimState, HumanDecision, thread_id
from claimcourt.workspace import Ledger, LedgerClaim, WorkspacePaths, open_checkpointer

Order = Literal["confidence", "file"]
WAITING = "pending_review"
# Each attempt to take the ledger's write lock waits this long; the attempts go on for the workspace's
# busy timeout in all, saying once that they wait.
_LOCK_ATTEMPT_MS = 1_000


class WorkspaceBusyError(ClaimcourtError):
    """Another process held the run ledger's write lock for longer than the busy timeout."""


@dataclass(frozen=True)
class Outcome:
    """What became of one decision."""

    claim_id: str
    review: Review
    state: ClaimState
    # "decided": resumed the thread; "second_opinion": kept beside an earlier decision (the thread is
    # untouched); "decided_elsewhere": the claim was decided meanwhile by another session, this
    # decision is kept as a second opinion.
    status: Literal["decided", "second_opinion", "decided_elsewhere"]


@dataclass(frozen=True)
class Undone:
    review: Review
    state: ClaimState | None


def is_waiting(snapshot: Any) -> bool:
    """The thread stopped at the `human_review` interrupt."""
    return tuple(snapshot.next) == ("human_review",) and any(task.interrupts for task in snapshot.tasks)


def _state(values: dict[str, Any]) -> ClaimState:
    return ClaimState.model_validate({k: v for k, v in values.items() if not k.startswith("__")})


def confidence_key(state: ClaimState | None) -> float:
    """Lowest first: an unreadable verdict (a person must decide from scratch) comes before any other."""
    if state is None or state.verdict is None or not state.verdict.readable:
        return -1.0
    return state.verdict.confidence


def reviewed_blind(state: ClaimState, *, requested: bool, audit_blind: bool) -> bool:
    """Whether this claim is shown without the Judge's verdict: the person asked for blind review, or
    it is an audit claim (`audit_blind`, on by default). An audit checks the Judge; a person who saw
    its verdict first drifts toward it, and the check would measure that drift instead."""
    return requested or (state.audit and audit_blind)


def judge_label(state: ClaimState) -> int | None:
    return state.verdict.label if state.verdict is not None and state.verdict.readable else None


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
        self.paths = WorkspacePaths(settings.workspace)
        self.session_id = uuid.uuid4().hex[:12]
        self.on_wait = on_wait
        self._deps = deps
        self._stack = AsyncExitStack()
        # Whether any claim's state changed here (decided, undone, reconciled): the results file follows.
        self.changed = False
        self.ledger: Ledger
        self.store: ReviewStore
        self.graph: Any
        self.deps: Deps
        self.run: dict[str, Any]

    async def __aenter__(self) -> ReviewDesk:
        if not self.paths.ledger.exists():
            raise RunStateError(f"no runs in workspace {self.settings.workspace} (run a batch first)")
        busy = min(_LOCK_ATTEMPT_MS, self.settings.sqlite_busy_timeout_ms)
        self.ledger = Ledger(self.paths.ledger, busy_timeout_ms=busy)
        self._stack.callback(self.ledger.close)
        try:
            self.run = self.ledger.run(self.run_id)
            self.store = self._with_lock_retries(lambda: ReviewStore(self.ledger.conn))
            # The thread re-runs `human_review` on resume, which reads the threshold: use the run's own.
            run_settings = self.settings.model_copy(
                update={"threshold": self.run["threshold"], "profile": self.run["profile"] or self.settings.profile}
            )
            self.deps = self._deps or build_deps(run_settings)
            saver = await self._stack.enter_async_context(open_checkpointer(self.settings))
            self.graph = build_graph(saver)
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

    def refresh_results(self) -> None:
        """Rewrite the run's results file (where the run wrote it by default) so it carries the people's
        labels too. A results file written elsewhere with `run -o` is left alone."""
        csv_path = self.paths.run_dir(self.run_id) / "results.csv"
        if csv_path.exists():
            write_results(self.ledger, self.run_id, csv_path, csv_path.with_suffix(".jsonl"))

    # -- locking ----------------------------------------------------------------------------------
    def _with_lock_retries(self, action: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + self.settings.sqlite_busy_timeout_ms / 1000
        told = False
        while True:
            try:
                return action()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if self.ledger.conn.in_transaction:
                    self.ledger.conn.rollback()
                if time.monotonic() >= deadline:
                    raise WorkspaceBusyError(
                        f"the workspace {self.settings.workspace} is busy: another process (a batch run?) has "
                        f"held its run ledger for {self.settings.sqlite_busy_timeout_ms / 1000:.0f}s. Nothing was "
                        "changed; try again when it finishes, or raise sqlite_busy_timeout_ms"
                    ) from exc
                if not told and self.on_wait is not None:
                    self.on_wait("the workspace is busy (a batch run is writing); waiting for it…")
                    told = True
                time.sleep(0.05)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One write transaction on the ledger, taken before the thread is touched and committed after."""
        conn = self.ledger.conn
        self._with_lock_retries(lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            yield
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    # -- reading ----------------------------------------------------------------------------------
    def config(self, claim_id: str, checkpoint: dict[str, Any] | None = None) -> dict[str, Any]:
        if checkpoint is not None:
            return checkpoint
        return {"configurable": {"thread_id": thread_id(self.run_id, claim_id)}}

    async def snapshot(self, claim_id: str) -> Any:
        return await self.graph.aget_state(self.config(claim_id))

    async def current(self, claim_id: str) -> ClaimState | None:
        snapshot = await self.snapshot(claim_id)
        return _state(snapshot.values) if snapshot.values else None

    async def waiting_state(self, claim_id: str) -> ClaimState | None:
        """The claim's state if its thread still waits for a person, else None."""
        snapshot = await self.snapshot(claim_id)
        return _state(snapshot.values) if snapshot.values and is_waiting(snapshot) else None

    def claims(self, status: str | None = None) -> list[LedgerClaim]:
        return list(self.ledger.claims(self.run_id, status=status))

    def queue(self, *, order: Order = "confidence", second_opinion: bool = False, reviewer: str = "") -> list[str]:
        """The claims this person should see: waiting ones, or (second opinion) those a person decided
        and this reviewer has not."""
        if second_opinion:
            decided_by = self.store.reviewers_of(self.run_id)
            claims = [c for c in self.claims("human") if reviewer not in decided_by.get(c.claim_id, set())]
        else:
            claims = self.claims(WAITING)
        if order == "confidence":
            claims.sort(key=lambda c: (confidence_key(c.state()), c.seq))
        return [c.claim_id for c in claims]

    def blind_for(self, state: ClaimState, *, requested: bool) -> bool:
        """Whether a review screen must hide the Judge's verdict on this claim (`reviewed_blind`)."""
        return reviewed_blind(state, requested=requested, audit_blind=self.settings.audit_blind)

    def waiting_count(self) -> int:
        return self.ledger.counts(self.run_id).get(WAITING, 0)

    # -- reconciling ------------------------------------------------------------------------------
    async def reconcile(self) -> int:
        """Bring the ledger and the reviews table in line with the threads (after a crash between the
        thread write and the ledger commit). Returns how many claims were corrected."""
        fixed = 0
        for claim in self.claims():
            if claim.status not in (WAITING, "human"):
                continue
            snapshot = await self.snapshot(claim.claim_id)
            if not snapshot.values:
                continue
            state = _state(snapshot.values)
            waiting = is_waiting(snapshot)
            if claim.status == WAITING and not waiting and state.decided_by == "human" and state.human:
                human = state.human

                def recover(state: ClaimState = state, human: HumanDecision = human) -> None:
                    with self._locked():
                        self.ledger.record(self.run_id, state, commit=False)
                        known = self.store.active(run_id=self.run_id, claim_id=state.claim_id)
                        if not any(r.resumed_thread and r.decided_at == human.decided_at for r in known):
                            self.store.add(
                                self._review(state, human, resumed=True, source="recovered", shown=None, shown_at=None)
                            )

                recover()
                fixed += 1
            elif claim.status == "human" and waiting:

                def reopen(state: ClaimState = state) -> None:
                    with self._locked():
                        self.ledger.record(self.run_id, state, commit=False)
                        finals = [
                            r.review_id
                            for r in self.store.active(run_id=self.run_id, claim_id=state.claim_id)
                            if r.resumed_thread and r.review_id is not None
                        ]
                        self.store.mark_undone(finals)

                reopen()
                fixed += 1
        self.changed = self.changed or fixed > 0
        return fixed

    # -- deciding ---------------------------------------------------------------------------------
    def _review(
        self,
        state: ClaimState,
        decision: HumanDecision,
        *,
        resumed: bool,
        source: Source,
        shown: Sequence[str] | None,
        shown_at: str | None,
    ) -> Review:
        if shown is None:
            shown = default_shown(decision.verdict_shown)
        return Review(
            run_id=self.run_id,
            claim_id=state.claim_id,
            reviewer=decision.reviewer or "",
            label=decision.label,
            note=decision.note,
            verdict_shown=decision.verdict_shown,
            shown=tuple(shown),
            judge_label=judge_label(state),
            judge_confidence=state.verdict.confidence if state.verdict is not None else None,
            resumed_thread=resumed,
            source=source,
            session_id=self.session_id,
            shown_at=shown_at,
            decided_at=decision.decided_at,
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
    ) -> Outcome:
        """Record one decision. On a waiting claim it resumes the thread; on a claim a person already
        decided it is kept as a second opinion (asked for, or because another session got there first).
        Committed before it returns."""
        decision = HumanDecision.model_validate(decision)
        if not decision.reviewer:
            raise RunStateError("a decision needs a reviewer name")
        conn = self.ledger.conn
        self._with_lock_retries(lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            status = self.ledger.statuses(self.run_id, [claim_id]).get(claim_id)
            if status is None:
                raise RunStateError(f"claim '{claim_id}' is not in run '{self.run_id}'")
            snapshot = await self.snapshot(claim_id)
            if status == WAITING and snapshot.values and is_waiting(snapshot):
                before = _state(snapshot.values)
                await self.graph.ainvoke(
                    Command(resume=decision.model_dump()), self.config(claim_id), context=self.deps
                )
                state = await self.current(claim_id)
                if state is None or state.decided_by != "human":
                    raise RunStateError(f"claim '{claim_id}': the thread did not finish after the decision")
                review = self._review(before, decision, resumed=True, source=source, shown=shown, shown_at=shown_at)
                self.ledger.record(self.run_id, state, commit=False)
                # A second opinion left on a claim whose final decision was undone is superseded by this one.
                self.store.mark_undone(
                    [
                        r.review_id
                        for r in self.store.active(run_id=self.run_id, claim_id=claim_id)
                        if r.reviewer == decision.reviewer and r.review_id is not None
                    ]
                )
                self.store.add(review)
                conn.commit()
                self.changed = True
                return Outcome(claim_id, review, state, "decided")
            if not snapshot.values:
                raise RunStateError(f"claim '{claim_id}' has no debate yet (status {status})")
            state = _state(snapshot.values)
            if state.decided_by != "human":
                raise RunStateError(
                    f"claim '{claim_id}' is not waiting for a person (decided by {state.decided_by or status})"
                )
            if state.human is not None and status == WAITING:
                # The thread finished but the ledger missed it (a crash): set the ledger right first.
                self.ledger.record(self.run_id, state, commit=False)
            if any(r.reviewer == decision.reviewer for r in self.store.active(run_id=self.run_id, claim_id=claim_id)):
                raise RunStateError(f"claim '{claim_id}' already has a decision by {decision.reviewer}")
            review = self._review(state, decision, resumed=False, source=source, shown=shown, shown_at=shown_at)
            self.store.add(review)
            conn.commit()
            return Outcome(claim_id, review, state, "second_opinion" if second_opinion else "decided_elsewhere")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise

    # -- undoing ----------------------------------------------------------------------------------
    async def undo_last(self, reviewer: str) -> Undone | None:
        """Undo this reviewer's latest decision in the run (from this session or an earlier one). A
        decision that finalised the thread forks the thread back to its `human_review` interrupt, so
        the claim waits again; a second opinion is only marked undone."""
        conn = self.ledger.conn
        self._with_lock_retries(lambda: conn.execute("BEGIN IMMEDIATE"))
        try:
            review = self.store.last_active_by(reviewer, self.run_id)
            if review is None or review.review_id is None:
                conn.rollback()
                return None
            state: ClaimState | None = None
            if review.resumed_thread:
                state = await self._reopen_thread(review)
                if state is not None:
                    self.ledger.record(self.run_id, state, commit=False)
            self.store.mark_undone([review.review_id])
            conn.commit()
            self.changed = True
            return Undone(review, state)
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise

    async def _reopen_thread(self, review: Review) -> ClaimState | None:
        snapshot = await self.snapshot(review.claim_id)
        if not snapshot.values:
            raise RunStateError(f"claim '{review.claim_id}' has no thread to undo")
        if is_waiting(snapshot):
            return None  # already waiting (an earlier undo whose ledger commit was lost)
        current = _state(snapshot.values)
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
        return _state(after.values)

    async def _checkpoint_before_review(self, snapshot: Any) -> Any:
        node = snapshot
        while node is not None and node.parent_config is not None:
            node = await self.graph.aget_state(node.parent_config)
            if tuple(node.next) == ("human_review",):
                return node
        raise RunStateError("the claim's thread has no checkpoint before human review to return to")


def default_shown(verdict_shown: bool) -> tuple[str, ...]:
    base = ("claim", "neighbours", "advocate", "skeptic")
    return (*base, "verdict") if verdict_shown else base
