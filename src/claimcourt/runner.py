"""Batch runs: a table of claims through the debate graph, many claims at once, resumable.

Each claim is one LangGraph thread (`<run_id>:<claim_id>`) in the workspace's checkpointer. The run
ledger records which claims belong to the run and where each stands; running the same run id again
skips finished claims, resumes half-finished threads from their last checkpoint and runs the rest.
Results are written from the ledger at the end (and on interruption), in input order, so each claim
appears exactly once however many times the run was stopped and resumed.
"""

from __future__ import annotations

import asyncio
import csv
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from claimcourt.config import Settings
from claimcourt.csv_cells import spreadsheet_safe
from claimcourt.deps import Deps, build_deps
from claimcourt.errors import ClaimcourtError, RunStateError
from claimcourt.graph.builder import build_graph
from claimcourt.paths import check_output_file
from claimcourt.run_settings import recorded_settings, resolve_run_settings
from claimcourt.state import ClaimState, thread_id
from claimcourt.tables import ClaimRow, ClaimTable
from claimcourt.workspace import Ledger, WorkspacePaths, open_checkpointer

FINISHED = ("judge", "pending_review", "human")
RESULT_COLUMNS = (
    "id",
    "label",
    "decided_by",
    "audit",
    "judge_label",
    "p_green",
    "confidence",
    "rationale",
    "advocate",
    "skeptic",
    "neighbour_ids",
    "neighbour_labels",
    "neighbour_similarities",
    "reviewer",
    "note",
    "error",
)
# Claims read, queued in the ledger and embedded ahead (in one length-sorted call) per step.
_CHUNK = 256
# The ledger commits every so many claims or seconds; whatever a crash loses in between is recovered
# from the checkpoints on the next run.
_COMMIT_EVERY = 256
# ...and at most this long after the first uncommitted write: an open ledger transaction holds SQLite's
# write lock, and a review session deciding claims in the same workspace waits for it.
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
    first_error: str | None = None
    batch_sizes: dict[str, float] = field(default_factory=dict)


def result_row(state: ClaimState) -> dict[str, Any]:
    verdict = state.verdict
    human = state.human
    return {
        "id": state.claim_id,
        "label": "" if state.final_label is None else state.final_label,
        "decided_by": state.decided_by or "",
        "audit": "true" if state.audit else "false",
        "judge_label": "" if verdict is None or verdict.label is None else verdict.label,
        "p_green": "" if verdict is None or verdict.p_green is None else round(verdict.p_green, 6),
        "confidence": "" if verdict is None else round(verdict.confidence, 6),
        "rationale": verdict.rationale if verdict is not None else "",
        "advocate": state.advocate.text if state.advocate else "",
        "skeptic": state.skeptic.text if state.skeptic else "",
        "neighbour_ids": ";".join(n.id for n in state.neighbours),
        "neighbour_labels": ";".join(str(n.label) for n in state.neighbours),
        "neighbour_similarities": ";".join(f"{n.similarity:.4f}" for n in state.neighbours),
        "reviewer": human.reviewer or "" if human else "",
        "note": human.note or "" if human else "",
        "error": "",
    }


def write_results(ledger: Ledger, run_id: str, csv_path: Path, jsonl_path: Path) -> int:
    """Every finished (or failed) claim of the run, once, in input order. Written to a temporary file
    and renamed, so a crash mid-write never leaves a half results file over a good one."""
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    jsonl_path.parent.mkdir(parents=True, exist_ok=True)
    csv_tmp = csv_path.with_name(csv_path.name + ".tmp")
    jsonl_tmp = jsonl_path.with_name(jsonl_path.name + ".tmp")
    written = 0
    with (
        csv_tmp.open("w", encoding="utf-8", newline="") as csv_fh,
        jsonl_tmp.open("w", encoding="utf-8") as js,
    ):
        writer = csv.DictWriter(csv_fh, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        for claim in ledger.claims(run_id):
            if claim.status == "error":
                error_row = {"id": claim.claim_id, "decided_by": "error", "error": claim.error or ""}
                writer.writerow({k: spreadsheet_safe(v) for k, v in error_row.items()})
                js.write(json.dumps({"claim_id": claim.claim_id, "error": claim.error}) + "\n")
                written += 1
                continue
            state = claim.state()
            if state is None or claim.status not in FINISHED:
                continue
            writer.writerow({k: spreadsheet_safe(v) for k, v in result_row(state).items()})
            js.write(json.dumps({"run_id": run_id, "seq": claim.seq, **state.model_dump(mode="json")}) + "\n")
            written += 1
    csv_tmp.replace(csv_path)
    jsonl_tmp.replace(jsonl_path)
    return written


def _state_from_output(output: dict[str, Any]) -> ClaimState:
    return ClaimState.model_validate({k: v for k, v in output.items() if not k.startswith("__")})


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
        self.paths = WorkspacePaths(settings.workspace)

    def output_paths(self, run_id: str, output: Path | None) -> tuple[Path, Path]:
        csv_path = output or self.paths.run_dir(run_id) / "results.csv"
        return csv_path, csv_path.with_suffix(".jsonl")

    def _adopt_run_settings(self, ledger: Ledger, run_id: str) -> None:
        """Resolve a calibrated threshold and the audit seed once, at the start (see `run_settings`)."""
        try:
            run: dict[str, Any] | None = ledger.run(run_id)
        except RunStateError:
            run = None  # a new run
        self.settings = resolve_run_settings(self.settings, run)
        self.deps.settings = self.settings

    def _check_resume_settings(self, ledger: Ledger, run_id: str) -> None:
        run = ledger.run(run_id)
        run["audit_rate"] = recorded_settings(run).get("audit_rate", 0.0)
        for key, now in (
            ("profile", self.settings.profile),
            ("threshold", self.settings.threshold),
            ("audit_rate", self.settings.audit_rate),
        ):
            if run[key] != now:
                raise RunStateError(
                    f"run '{run_id}' was started with {key} {run[key]!r}, not {now!r}: resume it with the "
                    "same settings, or start a new run with another --run-id"
                )

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
        csv_path, jsonl_path = self.output_paths(run_id, output)
        for path in (csv_path, jsonl_path):
            check_output_file(path)  # before any claim is debated, not when the results are written
        rows = rows if rows is not None else table.validate()
        total = min(rows, limit) if limit is not None else rows
        self.deps.search.store.require_nonempty()
        self.deps.backend.check_ready()
        ledger = Ledger(self.paths.ledger, busy_timeout_ms=self.settings.sqlite_busy_timeout_ms)
        progress = Progress(total=total)
        summary = RunSummary(run_id, progress, {}, csv_path, jsonl_path)
        try:
            self._adopt_run_settings(ledger, run_id)
            if not ledger.ensure_run(run_id, input_file=str(table.path), settings=self.settings):
                self._check_resume_settings(ledger, run_id)
            async with open_checkpointer(self.settings) as saver:
                graph = build_graph(saver)
                await self._run_all(graph, ledger, table, run_id, limit, progress, summary)
        except (asyncio.CancelledError, KeyboardInterrupt):
            summary.interrupted = True
            raise
        finally:
            ledger.commit()
            write_results(ledger, run_id, csv_path, jsonl_path)
            summary.counts = ledger.counts(run_id)
            summary.batch_sizes = {"retrieve": self.deps.search.batch_mean_size}
            ledger.close()
        return summary

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
        ledger: Ledger,
        table: ClaimTable,
        run_id: str,
        limit: int | None,
        progress: Progress,
        summary: RunSummary,
    ) -> None:
        slots = asyncio.Semaphore(self.settings.max_concurrency)
        tasks: set[asyncio.Task[None]] = set()
        uncommitted = 0
        fatal: list[BaseException] = []
        flush_timer: asyncio.TimerHandle | None = None

        def flush() -> None:
            nonlocal uncommitted, flush_timer
            if flush_timer is not None:
                flush_timer.cancel()
                flush_timer = None
            ledger.commit()
            uncommitted = 0

        def finished(status: str) -> None:
            nonlocal uncommitted, flush_timer
            progress.count(status)
            uncommitted += 1
            if uncommitted >= _COMMIT_EVERY:
                flush()
            elif flush_timer is None:
                flush_timer = asyncio.get_running_loop().call_later(_COMMIT_AFTER_S, flush)
            if self.on_progress is not None:
                self.on_progress(progress)

        async def debate(claim: ClaimRow, reconcile: bool) -> None:
            try:
                state = await self._debate(graph, run_id, claim, reconcile)
                ledger.record(run_id, state, commit=False)
                finished(state.decided_by or "queued")
            except ClaimcourtError as exc:  # a problem with the setup, not with this claim
                fatal.append(exc)
            except Exception as exc:
                message = f"{type(exc).__name__}: {exc}"
                summary.first_error = summary.first_error or f"{claim.id}: {message}"
                ledger.record_error(run_id, claim.id, message, commit=False)
                finished("error")
                if progress.errors >= _ERROR_BREAKER and progress.errors * 2 > progress.done - progress.skipped:
                    fatal.append(RuntimeError(f"too many claims failed; first: {summary.first_error}"))
            finally:
                slots.release()

        try:
            chunks = self._limited(table, limit)
            prepared = self._prepare(next(chunks, None), ledger, run_id)
            while prepared is not None:
                chunk, known, statuses = prepared
                # Read the next chunk and start embedding it now, while the graph debates this one.
                upcoming = self._prepare(next(chunks, None), ledger, run_id)
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
                prepared = upcoming
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
            if flush_timer is not None:
                flush_timer.cancel()

    def _prepare(
        self, chunk: list[ClaimRow] | None, ledger: Ledger, run_id: str
    ) -> tuple[list[ClaimRow], set[str], dict[str, str]] | None:
        """Queue a chunk in the ledger, find what an earlier run finished, prefetch the rest's vectors."""
        if chunk is None:
            return None
        known = ledger.add_claims(run_id, [(c.id, c.row) for c in chunk])
        statuses = ledger.statuses(run_id, [c.id for c in chunk]) if known else {}
        self.deps.search.prefetch(c.text for c in chunk if statuses.get(c.id) not in FINISHED)
        return chunk, known, statuses

    async def _debate(self, graph: Any, run_id: str, claim: ClaimRow, reconcile: bool) -> ClaimState:
        config = {"configurable": {"thread_id": thread_id(run_id, claim.id)}}
        if reconcile:
            # The claim was queued by an earlier, stopped run: its thread may be finished, waiting for
            # a person, stopped between two nodes, or stopped before its first node ran.
            snapshot = await graph.aget_state(config)
            # A thread killed while its input was being saved holds only defaults: start it afresh.
            if snapshot.values and snapshot.values.get("claim_id"):
                state = ClaimState.model_validate(snapshot.values)
                waiting = any(task.interrupts for task in snapshot.tasks)
                # Judge it by what the state says, not by `next`: a thread killed right after its input
                # was saved reports no next node although nothing ran.
                if state.decided_by in ("judge", "human") or (state.decided_by == "pending_review" and waiting):
                    return state
                if snapshot.metadata and snapshot.metadata.get("step", -1) >= 0:
                    output = await graph.ainvoke(None, config, context=self.deps)
                    return _state_from_output(output)
        start = ClaimState(claim_id=claim.id, text=claim.text, run_id=run_id)
        output = await graph.ainvoke(start, config, context=self.deps)
        return _state_from_output(output)
