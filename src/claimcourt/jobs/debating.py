"""Many claims' debates at once, for one worker of a run, and one claim's debate.

`debate_chunks` keeps `max_concurrency` graph threads in flight (their model calls are batched
underneath, see `batching`), counts each finished claim in the run's `Progress` and writes it to the
ledger in batched transactions. `debate_claim` runs one claim's thread, carrying on a thread an
earlier, stopped run left behind instead of starting it again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimcourt.deps import Deps
from claimcourt.errors import ClaimcourtError, LeaseLostError
from claimcourt.jobs.workers import Chunk
from claimcourt.state import ClaimState
from claimcourt.store import RunCounts, Store, connection_lost, state_from_values, thread_config, view
from claimcourt.tables import ClaimRow
from claimcourt.vocab import FINISHED, ClaimStatus

# Finished claims are written to the ledger in one transaction every so many claims or seconds;
# whatever a crash loses in between is recovered from the checkpoints on the next run.
_COMMIT_EVERY = 256
# ...and at most this long after the first unwritten one, so `runs` and `pending` stay current.
_COMMIT_AFTER_S = 1.0
# A run stops when this many claims failed and they are the majority: a systematic fault, not a bad row.
_ERROR_BREAKER = 20
# A claim whose debate lost the database this many times (each time it came back) fails as an error.
_OUTAGE_RETRIES = 3


@dataclass
class Progress:
    total: int
    done: int = 0
    skipped: int = 0
    judge: int = 0
    pending_review: int = 0
    human: int = 0
    errors: int = 0
    started: float = field(default_factory=time.perf_counter)

    @property
    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    @property
    def rate(self) -> float:
        processed = self.done - self.skipped
        return processed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def count(self, status: str) -> None:
        self.done += 1
        if status == ClaimStatus.ERROR:
            self.errors += 1
        elif status in FINISHED:
            setattr(self, status, getattr(self, status) + 1)


@dataclass
class RunSummary:
    run_id: str
    progress: Progress
    counts: RunCounts
    results_csv: Path
    results_jsonl: Path
    interrupted: bool = False
    # A worker that joined a run every claim of which was already finished (by other workers).
    already_complete: bool = False
    first_error: str | None = None
    batch_sizes: dict[str, float] = field(default_factory=dict)
    # Claims this worker debated after its lease on them ran out, which another worker took over: their
    # outcome here was not recorded (the other worker's stands).
    taken_over: list[str] = field(default_factory=list)

    def lost(self, claim_id: str) -> None:
        """The claim went to another worker; listed once, however often this worker lost it."""
        if claim_id not in self.taken_over:
            self.taken_over.append(claim_id)

    def regained(self, claim_id: str) -> None:
        """This worker leased the claim again later and recorded it: it is no longer the other's."""
        if claim_id in self.taken_over:
            self.taken_over.remove(claim_id)


class _LedgerBatch:
    """Finished claims written to the ledger in batched transactions: every `_COMMIT_EVERY` claims, and
    at most `_COMMIT_AFTER_S` after a claim finished. A write that fails on the timer stops the run
    (through `fatal`) instead of being only logged."""

    def __init__(
        self, store: Store, run_id: str, worker_id: str, summary: RunSummary, fatal: list[BaseException]
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.worker_id = worker_id
        self.summary = summary
        self.fatal = fatal
        # (state, None) or (claim id, error message).
        self.unrecorded: list[tuple[ClaimState | str, str | None]] = []
        self.timer: asyncio.TimerHandle | None = None

    def add(self, item: ClaimState | str, error: str | None = None) -> None:
        self.unrecorded.append((item, error))

    def due(self) -> None:
        """A claim finished: write now if enough wait, else start the clock."""
        if len(self.unrecorded) >= _COMMIT_EVERY:
            self.flush()
        elif self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(_COMMIT_AFTER_S, self._flush_later)

    def _record(self) -> None:
        store, run_id, by = self.store, self.run_id, self.worker_id
        with store.transaction():
            for item, error in self.unrecorded:
                if isinstance(item, ClaimState):
                    claim_id, kept = item.claim_id, store.ledger.record(run_id, item, by=by)
                else:
                    claim_id, kept = item, store.ledger.record_error(run_id, item, error or "", by=by)
                if kept:
                    self.summary.regained(claim_id)
                else:
                    self.summary.lost(claim_id)

    def flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.store.retrying(self._record)
        self.unrecorded.clear()

    def _flush_later(self) -> None:
        # A timer's exception would only be logged (with a traceback): the run stops on it instead.
        self.timer = None
        try:
            self.flush()
        except ClaimcourtError as exc:
            self.fatal.append(exc)


async def _debated(graph: Any, deps: Deps, store: Store, run_id: str, claim: ClaimRow, reconcile: bool) -> ClaimState:
    """The claim's debate; where the database went away under it, once it is back (the store waits for
    it, or says it is gone), carried on from the thread's last checkpoint."""
    for _ in range(_OUTAGE_RETRIES):
        try:
            return await debate_claim(graph, deps, run_id, claim, reconcile=reconcile)
        except Exception as exc:
            if not connection_lost(exc):
                raise
            store.db.query_one("SELECT 1")  # waits for the server (DatabaseGoneError if it stays away)
            reconcile = True
    return await debate_claim(graph, deps, run_id, claim, reconcile=True)


async def debate_chunks(
    graph: Any,
    deps: Deps,
    store: Store,
    chunks: AsyncIterator[Chunk],
    *,
    run_id: str,
    worker_id: str,
    progress: Progress,
    summary: RunSummary,
    on_progress: Callable[[Progress], None] | None,
) -> None:
    """Debate the chunks' claims, `max_concurrency` at a time, recording each finished one in the ledger
    (in batched transactions). Claims an earlier run finished are counted, not debated again; claims
    another worker took over are left to it (`summary.taken_over`)."""
    slots = asyncio.Semaphore(deps.settings.max_concurrency)
    tasks: set[asyncio.Task[None]] = set()
    fatal: list[BaseException] = []
    ledger = _LedgerBatch(store, run_id, worker_id, summary, fatal)

    def finished(status: str) -> None:
        progress.count(status)
        ledger.due()
        if on_progress is not None:
            on_progress(progress)

    async def debate(claim: ClaimRow, reconcile: bool) -> None:
        try:
            state = await _debated(graph, deps, store, run_id, claim, reconcile)
            ledger.add(state)
            finished(state.decided_by or ClaimStatus.QUEUED)
        except LeaseLostError:
            summary.lost(claim.id)  # the other worker records it, and writes its thread
        except ClaimcourtError as exc:  # a problem with the setup, not with this claim
            fatal.append(exc)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            summary.first_error = summary.first_error or f"{claim.id}: {message}"
            ledger.add(claim.id, message)
            finished(ClaimStatus.ERROR)
            if progress.errors >= _ERROR_BREAKER and progress.errors * 2 > progress.done - progress.skipped:
                fatal.append(RuntimeError(f"too many claims failed; first: {summary.first_error}"))
        finally:
            slots.release()

    try:
        async for chunk, known, statuses in chunks:
            for claim in chunk:
                if statuses.get(claim.id) in FINISHED:
                    progress.skipped += 1
                    finished(statuses[claim.id])
                    continue
                await slots.acquire()
                if fatal:
                    slots.release()
                    raise fatal[0]
                task = asyncio.create_task(debate(claim, reconcile=claim.id in known))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.gather(*tasks)
        if fatal:
            raise fatal[0]
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    finally:
        ledger.flush()


async def debate_claim(graph: Any, deps: Deps, run_id: str, claim: ClaimRow, *, reconcile: bool) -> ClaimState:
    """One claim's debate to its end or its interrupt. `reconcile`: the claim was queued by an earlier
    run, so its thread is read first and carried on from where it stopped, never started twice."""
    config = thread_config(run_id, claim.id)
    if reconcile:
        # The claim was queued by an earlier, stopped run: its thread may be finished, waiting for
        # a person, stopped between two nodes, or stopped before its first node ran.
        thread = view(await graph.aget_state(config))
        # A thread killed while its input was being saved holds only defaults: start it afresh.
        if thread.state is not None:
            # Judge it by what the state says, not by `next`: a thread killed right after its input
            # was saved reports no next node although nothing ran.
            if thread.settled:
                return thread.state
            if thread.step >= 0:
                output = await graph.ainvoke(None, config, context=deps)
                return state_from_values(output)
    start = ClaimState(claim_id=claim.id, text=claim.text, run_id=run_id)
    output = await graph.ainvoke(start, config, context=deps)
    return state_from_values(output)
