"""One trace step per node that ran: what went in, what came out, when, and for how long.

The same builder serves both kinds of trace: a replay (the state before the node comes from the
checkpoint it started from, its update from that checkpoint's task result) and a live run (the state
is accumulated from the streamed updates). The step's JSON form is the documented `--format json`
contract (see `schema.json`): keys are stable, values are JSON-simple.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict

from claimcourt.nodes.human_review import review_reason
from claimcourt.state import ClaimState, HumanDecision

Node = Literal["retrieve", "advocate", "skeptic", "judge", "human_review", "finalize"]
TRACED_NODES: tuple[str, ...] = ("retrieve", "advocate", "skeptic", "judge", "human_review", "finalize")
# Kept out of an argument's or verdict's output: they describe what went in, so they sit in `input`.
_INPUT_SIDE = ("prompt", "claim_truncated")


class TraceStep(BaseModel):
    """One node's run. `duration_ms` is None while a person has not decided (a waiting review)."""

    model_config = ConfigDict(extra="forbid")

    node: Node
    started_at: str | None
    duration_ms: float | None
    input: dict[str, Any]
    output: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


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


def _without(record: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any] | None:
    if record is None:
        return None
    return {k: v for k, v in record.items() if k not in keys}


def review_request(before: ClaimState, threshold: float | None, interrupt_value: Any = None) -> dict[str, Any]:
    """What the person was asked: the interrupt's own payload where the checkpoint kept it."""
    if isinstance(interrupt_value, dict):
        return {k: interrupt_value.get(k) for k in ("reason", "confidence", "threshold")}
    confidence = before.verdict.confidence if before.verdict else 0.0
    return {
        "reason": review_reason(before, threshold) if threshold is not None else "",
        "confidence": confidence,
        "threshold": threshold,
    }


def step_input(
    node: str,
    before: ClaimState,
    update: dict[str, Any],
    *,
    threshold: float | None,
    interrupt_value: Any = None,
) -> dict[str, Any]:
    """The inputs that matter for each node (not the whole state: a trace must stay readable)."""
    neighbour_ids = [n.id for n in before.neighbours]
    if node == "retrieve":
        return {"claim_id": before.claim_id, "text": before.text}
    if node in ("advocate", "skeptic"):
        argument = update.get(node) or {}
        return {
            "neighbours": neighbour_ids,
            "prompt": argument.get("prompt"),
            "claim_truncated": bool(argument.get("claim_truncated", False)),
        }
    if node == "judge":
        verdict = update.get("verdict") or {}
        return {
            "advocate": before.advocate.text if before.advocate else None,
            "skeptic": before.skeptic.text if before.skeptic else None,
            "neighbours": neighbour_ids,
            "threshold": threshold,
            "prompt": verdict.get("prompt"),
            "claim_truncated": bool(verdict.get("claim_truncated", False)),
        }
    if node == "human_review":
        return review_request(before, threshold, interrupt_value)
    if node == "finalize":
        return {
            "judge_label": before.verdict.label if before.verdict else None,
            "human_label": before.human.label if before.human else None,
        }
    raise ValueError(f"not a traced node: {node}")


def step_output(node: str, update: dict[str, Any] | None, *, error: str | None = None) -> dict[str, Any]:
    if error is not None:
        return {"error": error}
    update = update or {}
    if node == "retrieve":
        return {"neighbours": update.get("neighbours", [])}
    if node in ("advocate", "skeptic"):
        return {"argument": _without(update.get(node), _INPUT_SIDE)}
    if node == "judge":
        return {
            "verdict": _without(update.get("verdict"), _INPUT_SIDE),
            "route": update.get("route"),
            "decided_by": update.get("decided_by"),
            "audit": bool(update.get("audit", False)),
        }
    if node == "human_review":
        decision = update.get("human")
        return {"status": "decided" if decision else "waiting", "decision": decision}
    if node == "finalize":
        return {"final_label": update.get("final_label"), "decided_by": update.get("decided_by")}
    raise ValueError(f"not a traced node: {node}")


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
        if node == "human_review" and clean and clean.get("human"):
            ended_at = HumanDecision.model_validate(clean["human"]).decided_at
        if started_at and ended_at:
            duration_ms = max(elapsed_ms(started_at, ended_at), 0.0)
    return TraceStep(
        node=cast(Node, node),
        started_at=started_at,
        duration_ms=duration_ms,
        input=step_input(node, before, clean or {}, threshold=threshold, interrupt_value=interrupt_value),
        output=step_output(node, clean, error=error),
    )
