"""`learn --rejudge`: the claims still waiting for a person, judged again by the new Judge version.

Each claim's thread is forked back to its checkpoint before `judge` (LangGraph time travel, found with
`trace.fork`'s `lineage` and `fork_index`) and run on from there in the same thread: the Judge weighs
the same precedents and briefs again, the thread keeps its whole history (both verdicts), and a claim
the new version decides at or above the run's threshold leaves the queue (its verdict marked
`rejudged`, with the version). Audit claims stay audits, and a claim on a reviewer's screen (leased) is
not touched.

Exactly once, whatever kills the process: the thread is the truth. Each claim is handled inside the
store's transaction that locks it (as a decision is), so no reviewer takes it meanwhile. LangGraph
writes a fork as a copy of the checkpoint before `judge`, then the Judge's step: a thread left at such a
copy is judged from there, not forked again, and a claim whose thread already holds a verdict of this
version is only run on to its next stop and recorded in the ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from claimcourt.review.desk import ReviewDesk
from claimcourt.review.queries import WAITING
from claimcourt.review.threads import is_waiting
from claimcourt.state import ClaimState
from claimcourt.store import claim_state
from claimcourt.trace.fork import fork_index, lineage
from claimcourt.vocab import ClaimStatus, Node


@dataclass
class RejudgeReport:
    version: int
    left_queue: list[str] = field(default_factory=list)
    still_waiting: list[str] = field(default_factory=list)
    audits: list[str] = field(default_factory=list)
    leased: list[str] = field(default_factory=list)


async def _fork_before_judge(desk: ReviewDesk, claim_id: str, context: Any) -> None:
    config = desk.threads.config(claim_id)
    chain = await lineage(desk.threads.graph, config)
    before_judge = chain[fork_index([tuple(s.next) for s in chain], Node.JUDGE)]
    await desk.threads.graph.ainvoke(None, before_judge.config, context=context)


async def _rejudge_claim(desk: ReviewDesk, claim_id: str, version: int, context: Any) -> ClaimState | None:
    """Judge the waiting claim again with `version` (once); its state after, or None if it no longer waits."""
    if desk.ledger.lock_claim(desk.run_id, claim_id) != WAITING:
        return None
    snapshot = await desk.threads.snapshot(claim_id)
    state = claim_state(snapshot.values)
    if state is None:
        return None
    config = desk.threads.config(claim_id)
    if tuple(snapshot.next) == (Node.JUDGE,):
        # Forked by a re-judging that was killed before the Judge ran: judge from there.
        await desk.threads.graph.ainvoke(None, config, context=context)
    elif state.verdict is None or state.verdict.judge_version != version:
        if not is_waiting(snapshot):
            return None  # not at the review interrupt: the desk's repair settles it, not a new verdict
        await _fork_before_judge(desk, claim_id, context)
    elif snapshot.next and not is_waiting(snapshot):
        # Judged by this version already, killed before the route's stop: run on to it.
        await desk.threads.graph.ainvoke(None, config, context=context)
    after = await desk.threads.current(claim_id)
    if after is not None:
        desk.ledger.record(desk.run_id, after)
    return after


async def rejudge_waiting(
    desk: ReviewDesk, version: int, *, on_claim: Callable[[str, ClaimState], None] | None = None
) -> RejudgeReport:
    """Every waiting claim of the desk's run, judged again by `version` unless an audit or leased."""
    report = RejudgeReport(version)
    context = replace(desk.deps, rejudging=True)
    for claim in desk.claims(WAITING):
        known = claim.state()
        if known is not None and known.audit:
            report.audits.append(claim.claim_id)
            continue
        with desk.state_store.transaction():
            if desk.lease_holder(claim.claim_id) is not None:
                report.leased.append(claim.claim_id)
                continue
            after = await _rejudge_claim(desk, claim.claim_id, version, context)
        if after is None:
            continue
        desk.changed = True
        (report.left_queue if after.decided_by == ClaimStatus.JUDGE else report.still_waiting).append(claim.claim_id)
        if on_claim is not None:
            on_claim(claim.claim_id, after)
    return report
