"""Batch runs: a table of claims through the debate graph, many claims at once, resumable.

Each claim is one LangGraph thread (`<run_id>:<claim_id>`) in the workspace's checkpointer. The run
ledger records which claims belong to the run and where each stands; running the same run id again
skips finished claims, resumes half-finished threads from their last checkpoint and runs the rest.
Results are written from the ledger at the end (and on interruption), in input order, so each claim
appears exactly once however many times the run was stopped and resumed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from claimcourt.config import Settings
from claimcourt.deps import Deps, build_deps
from claimcourt.errors import RunStateError
from claimcourt.graph.builder import build_graph
from claimcourt.jobs.debating import Progress, RunSummary, debate_chunks
from claimcourt.jobs.run_settings import resolve_run_settings
from claimcourt.jobs.workers import Chunk, beat, check_joins, leased_chunks, register_claims
from claimcourt.paths import check_output_file
from claimcourt.state import claim_id_of
from claimcourt.store import (
    FINISHED,
    RESULT_COLUMNS,
    LedgerRun,
    RunCounts,
    Store,
    check_run_id,
    new_worker_id,
    open_checkpointer,
    open_store,
    write_results,
)
from claimcourt.tables import ClaimRow, ClaimTable
from claimcourt.vocab import Node
from claimcourt.workspace import WorkspacePaths

__all__ = ["FINISHED", "RESULT_COLUMNS", "Progress", "RunSummary", "Runner", "default_run_id"]
# Claims read, queued in the ledger and embedded ahead (in one length-sorted call) per step.
_CHUNK = 256


def default_run_id(path: Path) -> str:
    return f"{path.stem}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"


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
            run: LedgerRun | None = store.ledger.run(run_id)
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
        summary = RunSummary(run_id, progress, RunCounts(), csv_path, jsonl_path)
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
            chunks = self._chunks(store, table, run_id, worker_id, limit, summary)
            # Several workers: a claim's thread is written only while this worker holds the claim.
            fence = (lambda thread: store.work.holds(run_id, claim_id_of(thread), worker_id)) if store.shared else None
            async with open_checkpointer(self.settings, fence=fence) as saver:
                graph = build_graph(saver)
                await debate_chunks(
                    graph,
                    self.deps,
                    store,
                    chunks,
                    run_id=run_id,
                    worker_id=worker_id,
                    progress=progress,
                    summary=summary,
                    on_progress=self.on_progress,
                )
        except (asyncio.CancelledError, KeyboardInterrupt):
            summary.interrupted = True
            raise
        finally:
            if heartbeat is not None:
                heartbeat.cancel()
            try:
                self._leave(store, run_id, worker_id, summary)
            finally:
                store.close()
        return summary

    def _chunks(
        self, store: Store, table: ClaimTable, run_id: str, worker_id: str, limit: int | None, summary: RunSummary
    ) -> AsyncIterator[Chunk]:
        """Where this worker's claims come from: leased from the ledger when several workers share the run
        (Postgres: all the input's claims are registered first), else read from the file as debated."""
        if not store.shared:
            return self._file_chunks(store, table, run_id, limit)
        register_claims(store, run_id, self._limited(table, limit))
        summary.already_complete = store.work.unfinished(run_id) == 0
        summary.progress.total = store.ledger.counts(run_id).total
        return leased_chunks(
            store,
            run_id,
            worker_id,
            count=self.settings.max_concurrency,
            settings=self.settings,
            prefetch=self.deps.search.prefetch,
        )

    def _leave(self, store: Store, run_id: str, worker_id: str, summary: RunSummary) -> None:
        """The worker leaves the run and writes its results files. With the database gone nothing more can
        be written: what was committed stands, and the command run again picks up the rest and writes
        the results."""
        if store.db.gone is not None:
            return
        store.retrying(lambda: store.work.leave(run_id, worker_id))
        write_results(store.ledger, run_id, summary.results_csv, summary.results_jsonl)
        summary.counts = store.ledger.counts(run_id)
        summary.batch_sizes = {Node.RETRIEVE: self.deps.search.batch_mean_size}

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

    def _prepare(self, chunk: list[ClaimRow] | None, store: Store, run_id: str) -> Chunk | None:
        """Queue a chunk in the ledger, find what an earlier run finished, prefetch the rest's vectors."""
        if chunk is None:
            return None
        known = store.ledger.add_claims(run_id, [(c.id, c.row) for c in chunk])
        statuses = store.ledger.statuses(run_id, [c.id for c in chunk]) if known else {}
        self.deps.search.prefetch(c.text for c in chunk if statuses.get(c.id) not in FINISHED)
        return chunk, known, statuses
