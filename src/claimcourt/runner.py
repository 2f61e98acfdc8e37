"""Batch runs: a table of claims through the debate graph, many claims at once, resumable.

Each claim is one LangGraph thread (`<run_id>:<claim_id>`) in the workspace's checkpointer. The run
ledger records which claims belong to the run and where each stands; running the same run id again
skips finished claims, resumes half-finished threads from their last checkpoint and runs the rest.
Results are written from the ledger at the end (and on interruption), in input order, so each claim
appears exactly once however many times the run was stopped and resumed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from claimcourt.config import Settings
from claimcourt.deps import Deps, build_deps
from claimcourt.errors import ClaimcourtError, LeaseLostError, RunStateError
from claimcourt.graph.builder import build_graph
from claimcourt.paths import check_output_file
from claimcourt.run_settings import resolve_run_settings
from claimcourt.state import ClaimState, claim_id_of
from claimcourt.store import (
    FINISHED,
    RESULT_COLUMNS,
    Store,
    check_run_id,
    new_worker_id,
    open_checkpointer,
    open_store,
    state_from_values,
    thread_config,
    view,
    write_results,
)
from claimcourt.tables import ClaimRow, ClaimTable
from claimcourt.workers import Chunk, beat, check_joins, leased_chunks, register_claims
from claimcourt.workspace import WorkspacePaths

__all__ = ["FINISHED", "RESULT_COLUMNS", "Progress", "RunSummary", "Runner", "default_run_id"]
# Claims read, queued in the ledger and embedded ahead (in one length-sorted call) per step.
_CHUNK = 256
# Finished claims are written to the ledger in one transaction every so many claims or seconds;
# whatever a crash loses in between is recovered from the checkpoints on the next run.
_COMMIT_EVERY = 256
# ...and at most this long after the first unwritten one, so `runs` and `pending` stay current.
_COMMIT_AFTER_S = 1.0
# A run stops when this many claims failed and they are the majority: a systematic fault, not a bad row.
_ERROR_BREAKER = 20


def default_run_id(path: Path) -> str:
    return f"{path.stem}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"


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
        if status == "error":
            self.errors += 1
        elif status in ("judge", "pending_review", "human"):
            setattr(self, status, getattr(self, status) + 1)


@dataclass
class RunSummary:
    run_id: str
    progress: Progress
    counts: dict[str, int]
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


class Runner:
    """Runs a claim table through the graph. `on_progress(progress)` is called after each claim."""

    def __init__(
        self,
        settings: Settings,
        *,
        deps: Deps | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.settings = settings
        self.deps = deps or build_deps(settings)
        self.on_progress = on_progress

    def output_paths(self, run_id: str, output: Path | None) -> tuple[Path, Path]:
        csv_path = output or WorkspacePaths(self.settings.workspace).run_dir(run_id) / "results.csv"
        return csv_path, csv_path.with_suffix(".jsonl")

    def _adopt_run_settings(self, store: Store, run_id: str, requested: Settings) -> None:
        """Resolve a calibrated threshold and the audit seed once, at the start (see `run_settings`)."""
        try:
            run: dict[str, Any] | None = store.ledger.run(run_id)
        except RunStateError:
            run = None  # a new run
        self.settings = resolve_run_settings(requested, run)
        self.deps.settings = self.settings

    async def run(
        self,
        table: ClaimTable,
        *,
        run_id: str,
        output: Path | None = None,
        limit: int | None = None,
        rows: int | None = None,
    ) -> RunSummary:
        """`rows`: the claim count from an earlier `table.validate()`, to skip validating twice."""
        check_run_id(run_id)
        csv_path, jsonl_path = self.output_paths(run_id, output)
        for path in (csv_path, jsonl_path):
            check_output_file(path)  # before any claim is debated, not when the results are written
        rows = rows if rows is not None else table.validate()
        total = min(rows, limit) if limit is not None else rows
        self.deps.search.store.require_nonempty()
        self.deps.backend.check_ready()
        store = open_store(self.settings)
        progress = Progress(total=total)
        summary = RunSummary(run_id, progress, {}, csv_path, jsonl_path)
        worker_id = new_worker_id()
        heartbeat: asyncio.Task[None] | None = None
        try:
            requested = self.settings
            self._adopt_run_settings(store, run_id, requested)
            if not store.ledger.ensure_run(run_id, input_file=str(table.path), settings=self.settings):
                # Another worker may have registered the run since it was read: its audit seed and
                # calibration are the run's, not the ones this worker drew.
                self._adopt_run_settings(store, run_id, requested)
                check_joins(store, run_id, self.settings, table.path)
            if output is not None:
                store.ledger.add_output(run_id, csv_path)
            store.work.join(run_id, worker_id, lease_s=self.settings.worker_lease_s, exclusive=not store.shared)
            heartbeat = asyncio.create_task(beat(store, run_id, worker_id, self.settings))
            if store.shared:
                register_claims(store, run_id, self._limited(table, limit))
                summary.already_complete = store.work.unfinished(run_id) == 0
                progress.total = sum(store.ledger.counts(run_id).values())
                chunks = leased_chunks(
                    store,
                    run_id,
                    worker_id,
                    count=self.settings.max_concurrency,
                    settings=self.settings,
                    prefetch=self.deps.search.prefetch,
                )
            else:
                chunks = self._file_chunks(store, table, run_id, limit)
            # Several workers: a claim's thread is written only while this worker holds the claim.
            fence = (lambda thread: store.work.holds(run_id, claim_id_of(thread), worker_id)) if store.shared else None
            async with open_checkpointer(self.settings, fence=fence) as saver:
                graph = build_graph(saver)
                await self._run_all(graph, store, chunks, run_id, progress, summary, worker_id)
        except (asyncio.CancelledError, KeyboardInterrupt):
            summary.interrupted = True
            raise
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
            store.work.leave(run_id, worker_id)
            write_results(store, run_id, csv_path, jsonl_path)
            summary.counts = store.ledger.counts(run_id)
            summary.batch_sizes = {"retrieve": self.deps.search.batch_mean_size}
            store.close()
        return summary

    async def _file_chunks(
        self, store: Store, table: ClaimTable, run_id: str, limit: int | None
    ) -> AsyncIterator[Chunk]:
        """The input's chunks, each queued in the ledger; the next one is read and its embedding
        started before this one is handed out, so the graph never waits for the file."""
        chunks = self._limited(table, limit)
        prepared = self._prepare(next(chunks, None), store, run_id)
        while prepared is not None:
            upcoming = self._prepare(next(chunks, None), store, run_id)
            yield prepared
            prepared = upcoming

    def _limited(self, table: ClaimTable, limit: int | None) -> Iterator[list[ClaimRow]]:
        seen = 0
        for chunk in table.chunks(_CHUNK):
            if limit is not None and seen + len(chunk) > limit:
                chunk = chunk[: limit - seen]
            seen += len(chunk)
            if chunk:
                yield chunk
            if limit is not None and seen >= limit:
                return

    async def _run_all(
        self,
        graph: Any,
        store: Store,
        chunks: AsyncIterator[Chunk],
        run_id: str,
        progress: Progress,
        summary: RunSummary,
        worker_id: str,
    ) -> None:
        slots = asyncio.Semaphore(self.settings.max_concurrency)
        tasks: set[asyncio.Task[None]] = set()
        # Finished claims not yet written to the ledger: (state, None) or (claim id, error message).
        unrecorded: list[tuple[ClaimState | str, str | None]] = []
        fatal: list[BaseException] = []
        flush_timer: asyncio.TimerHandle | None = None

        def flush() -> None:
            nonlocal flush_timer
            if flush_timer is not None:
                flush_timer.cancel()
                flush_timer = None
            with store.transaction():
                for item, error in unrecorded:
                    if isinstance(item, ClaimState):
                        claim_id, kept = item.claim_id, store.ledger.record(run_id, item, by=worker_id)
                    else:
                        claim_id, kept = item, store.ledger.record_error(run_id, item, error or "", by=worker_id)
                    if kept:
                        summary.regained(claim_id)
                    else:
                        summary.lost(claim_id)
            unrecorded.clear()

        def finished(status: str) -> None:
            nonlocal flush_timer
            progress.count(status)
            if len(unrecorded) >= _COMMIT_EVERY:
                flush()
            elif flush_timer is None:
                flush_timer = asyncio.get_running_loop().call_later(_COMMIT_AFTER_S, flush)
            if self.on_progress is not None:
                self.on_progress(progress)

        async def debate(claim: ClaimRow, reconcile: bool) -> None:
            try:
                state = await self._debate(graph, run_id, claim, reconcile)
                unrecorded.append((state, None))
                finished(state.decided_by or "queued")
            except LeaseLostError:
                summary.lost(claim.id)  # the other worker records it, and writes its thread
            except ClaimcourtError as exc:  # a problem with the setup, not with this claim
                fatal.append(exc)
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"
                summary.first_error = summary.first_error or f"{claim.id}: {message}"
                unrecorded.append((claim.id, message))
                finished("error")
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
            flush()

    def _prepare(self, chunk: list[ClaimRow] | None, store: Store, run_id: str) -> Chunk | None:
        """Queue a chunk in the ledger, find what an earlier run finished, prefetch the rest's vectors."""
        if chunk is None:
            return None
        known = store.ledger.add_claims(run_id, [(c.id, c.row) for c in chunk])
        statuses = store.ledger.statuses(run_id, [c.id for c in chunk]) if known else {}
        self.deps.search.prefetch(c.text for c in chunk if statuses.get(c.id) not in FINISHED)
        return chunk, known, statuses

    async def _debate(self, graph: Any, run_id: str, claim: ClaimRow, reconcile: bool) -> ClaimState:
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
                    output = await graph.ainvoke(None, config, context=self.deps)
                    return state_from_values(output)
        start = ClaimState(claim_id=claim.id, text=claim.text, run_id=run_id)
        output = await graph.ainvoke(start, config, context=self.deps)
        return state_from_values(output)
