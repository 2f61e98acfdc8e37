"""Forks of a stored claim's thread, in a workspace: make one (`fork_claim`), list them (`claim_forks`),
replay one (`replay_fork`). The mechanics are `trace.fork`'s; this module finds the claim's run and
thread, builds the run's dependencies, and reads a fork back as a `Trace`.

A fork is a what-if beside the claim's debate: it never changes the claim's thread, its status in the
ledger or its results row, and a fork that stops for a person does not enter the review queue.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from claimcourt.config import Settings
from claimcourt.deps import build_deps
from claimcourt.errors import RunStateError
from claimcourt.graph.builder import build_graph
from claimcourt.state import ClaimState, thread_id
from claimcourt.store import LedgerRun, open_checkpointer, state_from_values, thread_config, view
from claimcourt.trace.fork import ForkEdit, ForkOrigin, fork_thread, forks_of
from claimcourt.trace.replay import Trace, open_existing, resolve_run, steps_from_history
from claimcourt.vocab import ClaimStatus


@dataclass(frozen=True)
class Fork:
    """A fork read back: where it came from, and its debate."""

    origin: ForkOrigin
    trace: Trace


def _run_of(settings: Settings, claim_id: str, run_id: str | None) -> tuple[str, LedgerRun]:
    with open_existing(settings) as store:
        chosen = resolve_run(store.ledger, claim_id, run_id)
        return chosen, store.ledger.run(chosen)


async def fork_claim(settings: Settings, claim_id: str, *, run_id: str | None, at: str, edit: ForkEdit) -> Fork:
    """Fork the claim's thread before `at` with `edit`, run the fork on, and read it back."""
    chosen, run = _run_of(settings, claim_id, run_id)
    # The fork runs as its run did: the run's threshold and profile, whatever today's settings say.
    run_settings = settings.model_copy(update={"threshold": run.threshold, "profile": run.profile or settings.profile})
    fork_id = f"{thread_id(chosen, claim_id)}#fork-{uuid.uuid4().hex[:8]}"
    async with open_checkpointer(settings) as saver:
        graph = build_graph(saver)
        origin = await fork_thread(
            graph, thread_config(chosen, claim_id), fork_id, at=at, edit=edit, context=build_deps(run_settings)
        )
        return Fork(origin, await _read(graph, origin, run))


async def claim_forks(settings: Settings, claim_id: str, *, run_id: str | None) -> list[Fork]:
    """The forks made of the claim's thread, oldest first."""
    chosen, run = _run_of(settings, claim_id, run_id)
    async with open_checkpointer(settings) as saver:
        graph = build_graph(saver)
        origins = await forks_of(saver, thread_id(chosen, claim_id))
        return [Fork(origin, await _read(graph, origin, run)) for origin in origins]


async def replay_fork(settings: Settings, fork_id: str) -> Fork:
    """A fork by its thread id (as `claim_forks` and `fork_claim` name it)."""
    async with open_checkpointer(settings) as saver:
        graph = build_graph(saver)
        first = None
        async for item in saver.alist({"configurable": {"thread_id": fork_id}}):
            first = item  # newest first: the last one is where the fork began, with its origin
        origin = ForkOrigin.from_metadata(fork_id, first.metadata if first else None)
        if origin is None:
            raise RunStateError(f"no fork '{fork_id}' in workspace {settings.workspace}")
        head = view(await graph.aget_state({"configurable": {"thread_id": fork_id}}))
        if head.state is None:
            raise RunStateError(f"fork '{fork_id}' holds no debate")
        run = _run_of(settings, head.state.claim_id, head.state.run_id)[1]
        return Fork(origin, await _read(graph, origin, run))


async def _read(graph: Any, origin: ForkOrigin, run: LedgerRun) -> Trace:
    config = {"configurable": {"thread_id": origin.thread_id}}
    history = [snapshot async for snapshot in graph.aget_state_history(config)]
    history.reverse()
    head = view(history[-1])
    state: ClaimState = head.state or state_from_values(history[-1].values)
    threshold = run.threshold
    return Trace(
        run_id=state.run_id,
        claim_id=state.claim_id,
        state=state,
        steps=steps_from_history(history, threshold=threshold),
        status=ClaimStatus.PENDING_REVIEW if head.waiting else (state.decided_by or ClaimStatus.QUEUED),
        threshold=threshold,
        profile=run.profile,
    )
