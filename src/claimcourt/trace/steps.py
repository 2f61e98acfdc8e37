"""One trace step per node that ran: what went in, what came out, when, and for how long.

The same builder serves both kinds of trace: a replay (the state before the node comes from the
checkpoint it started from, its update from that checkpoint's task result) and a live run (the state
is accumulated from the streamed updates). The step's JSON form is the documented `--format json`
contract (see `schema.json`): keys are stable, values are JSON-simple.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from claimcourt.state import ClaimState, HumanDecision
from claimcourt.trace.nodes import TRACED, StepContext, traced
from claimcourt.trace.record import TraceStep
from claimcourt.vocab import Node

# The node names a checkpoint's tasks are traced under: every node of the graph.
TRACED_NODES: frozenset[str] = frozenset(TRACED)

__all__ = ["TRACED_NODES", "TraceStep", "apply_update", "build_step", "jsonable", "parse_time"]


def jsonable(value: Any) -> Any:
    """Node updates hold pydantic models (a checkpoint rebuilds them); a step holds plain JSON."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _millis(value: str | None) -> str | None:
    return parse_time(value).isoformat(timespec="milliseconds") if value else None


def elapsed_ms(start: str, end: str) -> float:
    return round((parse_time(end) - parse_time(start)).total_seconds() * 1000, 3)


def apply_update(values: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """The state after a node's update, as LangGraph would merge it (timings is a merging channel)."""
    merged = dict(values)
    for key, value in update.items():
        if key == "timings":
            merged["timings"] = {**(merged.get("timings") or {}), **(value or {})}
        else:
            merged[key] = value
    return merged


def build_step(
    node: str,
    before: ClaimState,
    update: dict[str, Any] | None,
    *,
    threshold: float | None,
    fallback_started_at: str | None,
    fallback_ended_at: str | None = None,
    interrupt_value: Any = None,
    error: str | None = None,
) -> TraceStep:
    """A step from the state a node started from and the update it returned (None: it has not
    returned, e.g. a review still waiting). Timing comes from the node's own `timings` entry; nodes
    without one (human_review, finalize) are timed by the checkpoints around them, and a review by
    the person's decision time: its duration is how long the claim waited."""
    clean = jsonable(update) if update is not None else None
    timing = ((clean or {}).get("timings") or {}).get(node)
    started_at: str | None
    duration_ms: float | None
    if timing:
        started_at, duration_ms = timing.get("started_at"), timing.get("duration_ms")
    else:
        # Checkpoint times carry microseconds; keep every started_at in the nodes' millisecond form.
        started_at, duration_ms = _millis(fallback_started_at), None
        ended_at = fallback_ended_at
        if node == Node.HUMAN_REVIEW and clean and clean.get("human"):
            ended_at = HumanDecision.model_validate(clean["human"]).decided_at
        if started_at and ended_at:
            duration_ms = max(elapsed_ms(started_at, ended_at), 0.0)
    entry, name = traced(node), Node(node)
    context = StepContext(before, clean or {}, threshold, interrupt_value)
    return TraceStep(
        node=name,
        started_at=started_at,
        duration_ms=duration_ms,
        input=entry.input(name, context),
        output={"error": error} if error is not None else entry.output(name, clean or {}),
    )
