"""Replaying a stored debate from its checkpoint history.

Each checkpoint of a claim's thread lists the tasks that ran from it (`snapshot.tasks`), with the
update each returned (`task.result`) and any interrupt it raised; the checkpoint's values are the state
those tasks started from. Walking the history oldest first therefore gives one step per node, in the
order the graph ran them, without re-running anything.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from claimcourt.config import Settings
from claimcourt.errors import RunStateError
from claimcourt.graph.builder import build_graph
from claimcourt.state import ClaimState
from claimcourt.store import Ledger, Store, claim_state, existing_store, open_checkpointer, thread_config
from claimcourt.trace.steps import TRACED_NODES, TraceStep, build_step, parse_time
from claimcourt.vocab import ClaimStatus


@dataclass
class Trace:
    """One claim's debate: its steps in execution order and where it stands now."""

    run_id: str
    claim_id: str
    state: ClaimState
    steps: list[TraceStep]
    status: ClaimStatus
    threshold: float | None = None
    profile: str | None = None
    # Nodes due next when the thread stopped between two nodes (a stopped run); empty otherwise.
    not_yet_run: list[str] = field(default_factory=list)
    error: str | None = None

    def as_json(self) -> list[dict[str, Any]]:
        return [step.as_json() for step in self.steps]


def open_existing(settings: Settings) -> Store:
    """The workspace's run state, which must already exist: reading never creates a workspace."""
    store = existing_store(settings)
    if store is None:
        raise RunStateError(
            f"no runs in workspace {settings.workspace}: run a batch first (claimcourt run FILE), "
            "or debate one claim now with: claimcourt trace --text '...'"
        )
    return store


def resolve_run(ledger: Ledger, claim_id: str, run_id: str | None) -> str:
    """The run that holds `claim_id`: the one named, or the only one that holds it."""
    holding = ledger.runs_with_claim(claim_id)
    if run_id is not None:
        ledger.run(run_id)  # an unknown run id is its own error, listing the known runs
        if run_id not in holding:
            elsewhere = f"; it is in run(s): {', '.join(holding)}" if holding else ""
            raise RunStateError(f"run '{run_id}' holds no claim '{claim_id}'{elsewhere}")
        return run_id
    if not holding:
        raise RunStateError(f"unknown claim id '{claim_id}': no run in this workspace holds it")
    if len(holding) > 1:
        raise RunStateError(
            f"claim '{claim_id}' is in {len(holding)} runs: {', '.join(holding)}; choose one with --run-id"
        )
    return holding[0]


def not_debated_yet(claim_id: str, run_id: str, status: ClaimStatus, input_file: str | None) -> RunStateError:
    return RunStateError(
        f"claim '{claim_id}' of run '{run_id}' is not debated yet (status: {status}); "
        f"finish the run first: claimcourt run {shlex.quote(input_file) if input_file else 'FILE'} --run-id "
        f"{shlex.quote(run_id)}"
    )


def _task_error(task: Any) -> str | None:
    error = getattr(task, "error", None)
    if error is None:
        return None
    # A checkpoint keeps a failed task's error as its repr, e.g. "RuntimeError('model fell over')".
    return f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)


def steps_from_history(snapshots: list[Any], *, threshold: float | None) -> list[TraceStep]:
    """Steps from a thread's checkpoints, oldest first (`aget_state_history` yields newest first)."""
    steps: list[TraceStep] = []
    for position, snapshot in enumerate(snapshots):
        if not any(task.name in TRACED_NODES for task in snapshot.tasks):
            continue  # the input checkpoint (only __start__ runs from it) and the last one
        before = claim_state(snapshot.values)
        if before is None:
            continue  # nothing of the claim was saved before this checkpoint: no step to show from it
        following = snapshots[position + 1] if position + 1 < len(snapshots) else None
        superstep: list[TraceStep] = []
        for task in snapshot.tasks:
            if task.name not in TRACED_NODES:
                continue
            interrupt_value = task.interrupts[0].value if task.interrupts else None
            error = _task_error(task)
            if task.result is None and interrupt_value is None and error is None:
                continue  # due but not run: the run stopped here (see Trace.not_yet_run)
            superstep.append(
                build_step(
                    task.name,
                    before,
                    task.result,
                    threshold=threshold,
                    fallback_started_at=snapshot.created_at,
                    fallback_ended_at=following.created_at if following is not None else None,
                    interrupt_value=interrupt_value,
                    error=error,
                )
            )
        # Parallel nodes (advocate, skeptic) share a superstep: show them in the order they started.
        superstep.sort(key=lambda step: parse_time(step.started_at) if step.started_at else parse_time("9999-01-01"))
        steps.extend(superstep)
    return steps


async def replay(settings: Settings, claim_id: str, *, run_id: str | None = None) -> Trace:
    """The stored debate of `claim_id` (in `run_id`, or the only run that holds it)."""
    with open_existing(settings) as store:
        chosen = resolve_run(store.ledger, claim_id, run_id)
        run = store.ledger.run(chosen)
        stored = store.ledger.claim(chosen, claim_id)
        status, error = (stored.status, stored.error) if stored else (ClaimStatus.QUEUED, None)
    config = thread_config(chosen, claim_id)
    async with open_checkpointer(settings) as saver:
        graph = build_graph(saver)
        history = [snapshot async for snapshot in graph.aget_state_history(config)]
    if not history:
        raise not_debated_yet(claim_id, chosen, status, run.input_file)
    history.reverse()
    latest = history[-1]
    state = claim_state(latest.values)
    if state is None:
        # The thread was started but the claim never saved (a worker stopped by the lease fence, or
        # killed, before its first node): as far as anyone can see, not debated yet.
        raise not_debated_yet(claim_id, chosen, status, run.input_file)
    waiting = any(task.interrupts for task in latest.tasks)
    threshold = run.threshold
    return Trace(
        run_id=chosen,
        claim_id=claim_id,
        state=state,
        steps=steps_from_history(history, threshold=threshold),
        status=status,
        threshold=threshold,
        profile=run.profile,
        not_yet_run=[]
        if waiting
        else [t.name for t in latest.tasks if t.name in TRACED_NODES and t.result is None and not t.error],
        error=error,
    )
