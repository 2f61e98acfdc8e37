"""Debating one claim now, through the real graph and checkpointer, streaming each node's update.

The claim gets a run of its own in the ledger (`trace-<timestamp>` by default), so it can be replayed
later with `claimcourt trace CLAIM_ID` and, if it was left waiting, decided in a review session.

When the claim reaches a person, the ledger says so first (the claim is waiting everywhere: pending,
runs, review), and an inline decision goes through the review desk like every other decision: the
thread, the ledger and the reviews table are updated together before the next prompt.

`graph.astream` is an async generator: while the caller handles an update (prints it, waits for Enter)
the graph is suspended, so each update is seen before the next node starts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from claimcourt.config import Settings
from claimcourt.deps import Deps
from claimcourt.errors import InputError, RunStateError
from claimcourt.graph.builder import build_graph
from claimcourt.review.desk import ReviewDesk
from claimcourt.state import ClaimState, HumanDecision, ReviewRequest, utc_now
from claimcourt.store import check_run_id, open_checkpointer, open_store, thread_config
from claimcourt.tables import ClaimTable
from claimcourt.trace.replay import Trace, replay
from claimcourt.trace.steps import TRACED_NODES, TraceStep, apply_update, build_step, jsonable
from claimcourt.vocab import ClaimStatus, Node

OnStep = Callable[[TraceStep], None]
OnToken = Callable[[str, str], None]
# Asked when the claim reaches a person; None leaves it waiting (a review session can decide later).
Decide = Callable[[ReviewRequest, ClaimState], HumanDecision | None]


def default_trace_run_id() -> str:
    now = datetime.now(UTC)
    return f"trace-{now.strftime('%Y%m%d-%H%M%S')}-{now.microsecond // 1000:03d}"


def text_claim_id(text: str) -> str:
    """A stable id for a claim given as text: the same text traced twice gets the same id."""
    return "text-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def require_text(text: str, *, source: str = "--text") -> str:
    stripped = text.strip()
    if not stripped:
        raise InputError(f"{source} is empty: give the claim's text")
    return stripped


def claim_from_file(path: Any, claim_id: str) -> tuple[str, str]:
    """(id, text) of one claim of a CSV/Parquet table; the whole file is not loaded."""
    table = ClaimTable(path)
    for row in table.rows():
        if row.id == claim_id:
            return row.id, row.text
    raise InputError(f"no claim with id '{claim_id}'", file=table.path, column=table.id_col)


@dataclass
class LiveTrace:
    """One claim through the graph now. `run()` streams and returns the finished Trace."""

    settings: Settings
    deps: Deps
    claim_id: str
    text: str
    run_id: str = field(default_factory=default_trace_run_id)
    source: str = "<text>"

    async def run(self, *, on_step: OnStep, decide: Decide, on_token: OnToken | None = None) -> Trace:
        self.deps.search.store.require_nonempty()
        self.deps.backend.check_ready()
        check_run_id(self.run_id)
        store = open_store(self.settings)
        ledger = store.ledger
        try:
            is_new = ledger.ensure_run(self.run_id, input_file=self.source, settings=self.settings)
            if not is_new and ledger.statuses(self.run_id, [self.claim_id]):
                raise RunStateError(
                    f"run '{self.run_id}' already holds claim '{self.claim_id}': replay it with "
                    f"claimcourt trace {self.claim_id} --run-id {self.run_id}"
                )
            ledger.add_claims(self.run_id, [(self.claim_id, 1)])
            try:
                trace, asked = await self._stream(on_step=on_step, on_token=on_token)
            except Exception as exc:
                ledger.record_error(self.run_id, self.claim_id, f"{type(exc).__name__}: {exc}")
                raise
            # Saved before the question is asked: a claim waiting at the interrupt is waiting everywhere
            # (pending, runs, review), whatever happens to this process next.
            ledger.record(self.run_id, trace.state)
        finally:
            store.close()
        if asked is not None:
            await self._ask(trace, asked, decide=decide, on_step=on_step)
        trace.status = trace.state.decided_by or ClaimStatus.QUEUED
        return trace

    async def _ask(self, trace: Trace, asked: tuple[Any, str], *, decide: Decide, on_step: OnStep) -> None:
        """The person's decision, through the review desk (the one decision path: thread, ledger and the
        reviews table in one step), or the claim left waiting."""
        review_value, interrupted_at = asked
        request = ReviewRequest.model_validate(review_value)
        decision = decide(request, trace.state)
        if decision is None:
            waiting = build_step(
                Node.HUMAN_REVIEW,
                trace.state,
                None,
                threshold=trace.threshold,
                fallback_started_at=interrupted_at,
                interrupt_value=review_value,
            )
            trace.steps.append(waiting)
            on_step(waiting)
            return
        async with ReviewDesk(self.settings, self.run_id, deps=self.deps) as desk:
            outcome = await desk.decide(self.claim_id, decision, source="trace")
        trace.state = outcome.state
        # The nodes the decision ran (human_review, finalize), as the thread recorded them.
        stored = await replay(self.settings, self.claim_id, run_id=self.run_id)
        for step in stored.steps:
            if step.node in (Node.HUMAN_REVIEW, Node.FINALIZE):
                trace.steps.append(step)
                on_step(step)

    async def _stream(self, *, on_step: OnStep, on_token: OnToken | None) -> tuple[Trace, tuple[Any, str] | None]:
        """The graph up to its end or to the person's interrupt: (the trace so far, (the interrupt's
        value, when it came) or None)."""
        start = ClaimState(claim_id=self.claim_id, text=self.text, run_id=self.run_id)
        values: dict[str, Any] = start.model_dump(mode="json")
        steps: list[TraceStep] = []
        threshold = self.settings.threshold
        config = thread_config(self.run_id, self.claim_id)
        interrupt: Any = None
        interrupted_at = ""
        async with open_checkpointer(self.settings) as saver:
            graph = build_graph(saver)
            node_started_at = utc_now()
            async for mode, chunk in graph.astream(
                start, config, stream_mode=["updates", "messages"], context=self.deps
            ):
                if mode == "messages":
                    message, metadata = chunk
                    text = getattr(message, "content", "")
                    if on_token is not None and isinstance(text, str) and text:
                        on_token(str(metadata.get("langgraph_node", "")), text)
                    continue
                for node, update in chunk.items():
                    if node == "__interrupt__":
                        interrupt, interrupted_at = update[0], utc_now()
                        continue
                    if node not in TRACED_NODES:
                        continue
                    clean = jsonable(update) or {}
                    step = build_step(
                        node,
                        ClaimState.model_validate(values),
                        clean,
                        threshold=threshold,
                        fallback_started_at=node_started_at,
                        fallback_ended_at=utc_now(),
                    )
                    values = apply_update(values, clean)
                    steps.append(step)
                    on_step(step)
                    node_started_at = utc_now()
            final = ClaimState.model_validate((await graph.aget_state(config)).values)
        trace = Trace(
            run_id=self.run_id,
            claim_id=self.claim_id,
            state=final,
            steps=steps,
            status=final.decided_by or ClaimStatus.QUEUED,
            threshold=threshold,
            profile=self.settings.profile,
        )
        return trace, (interrupt.value, interrupted_at) if interrupt is not None else None
