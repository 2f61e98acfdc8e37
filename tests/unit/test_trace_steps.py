"""Building trace steps and rendering them: pure code, no models, no stores."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import jsonschema

from claimcourt.graph.builder import NODES, build_graph
from claimcourt.state import Argument, ClaimState, HumanDecision, Neighbour, Verdict
from claimcourt.trace import json_schema
from claimcourt.trace.nodes import TRACED
from claimcourt.trace.render import format_duration, markdown_report
from claimcourt.trace.replay import Trace, steps_from_history
from claimcourt.trace.steps import build_step
from claimcourt.vocab import Node

NEIGHBOURS = [Neighbour(id="n1", text="A solar | panel", label=1, similarity=0.8)]


def state(**fields: Any) -> ClaimState:
    return ClaimState(claim_id="c", text="1. A claim about a `solar` panel.", run_id="r", **fields)


def snapshot(values: ClaimState | None, created_at: str, *tasks: Any, nxt: tuple[str, ...] = ()) -> Any:
    return SimpleNamespace(values=values.model_dump() if values else {}, created_at=created_at, tasks=tasks, next=nxt)


def task(name: str, result: dict[str, Any] | None, interrupts: tuple[Any, ...] = ()) -> Any:
    return SimpleNamespace(name=name, result=result, interrupts=interrupts, error=None)


def timing(node: str, started_at: str, ms: float) -> dict[str, Any]:
    return {node: {"started_at": started_at, "duration_ms": ms}}


def test_parallel_steps_come_in_the_order_they_started_and_unrun_nodes_are_left_out() -> None:
    after_retrieve = state(neighbours=NEIGHBOURS)
    skeptic = Argument(role="skeptic", text="no", backend="fake")
    advocate = Argument(role="advocate", text="yes", backend="fake", prompt="P")
    history = [
        snapshot(None, "2026-01-01T00:00:00+00:00", task("__start__", {"claim_id": "c"})),
        snapshot(
            after_retrieve,
            "2026-01-01T00:00:01+00:00",
            # Listed skeptic first, but the advocate started earlier.
            task("skeptic", {"skeptic": skeptic, "timings": timing("skeptic", "2026-01-01T00:00:01.200+00:00", 5)}),
            task("advocate", {"advocate": advocate, "timings": timing("advocate", "2026-01-01T00:00:01.100+00:00", 7)}),
        ),
        # The run stopped here: judge was due but never ran.
        snapshot(after_retrieve, "2026-01-01T00:00:02+00:00", task("judge", None), nxt=("judge",)),
    ]

    steps = steps_from_history(history, threshold=0.7)

    assert [s.node for s in steps] == ["advocate", "skeptic"]
    assert steps[0].input == {"neighbours": ["n1"], "prompt": "P", "claim_truncated": False}
    argument = {"role": "advocate", "text": "yes", "cues": [], "cited": [], "backend": "fake"}
    assert steps[0].output["argument"] == argument
    assert steps[0].duration_ms == 7


def test_a_review_is_timed_from_the_interrupt_to_the_decision() -> None:
    judged = state(
        neighbours=NEIGHBOURS,
        verdict=Verdict.from_p_green(0.6, method="fake"),
        route="human_review",
        decided_by="pending_review",
    )
    decision = HumanDecision(label=0, reviewer="ann", decided_at="2026-01-01T02:00:00.000+00:00")
    request = {"claim_id": "c", "run_id": "r", "reason": "unsure", "confidence": 0.6, "threshold": 0.7}

    step = build_step(
        "human_review",
        judged,
        {"human": decision},
        threshold=0.7,
        fallback_started_at="2026-01-01T00:00:00.000123+00:00",
        fallback_ended_at="2026-01-01T02:00:01+00:00",
        interrupt_value=request,
    )

    assert step.started_at == "2026-01-01T00:00:00.000+00:00"
    assert step.duration_ms == 2 * 3600 * 1000  # until decided_at, not the next checkpoint
    assert step.input == {"reason": "unsure", "confidence": 0.6, "threshold": 0.7}
    assert step.output["status"] == "decided" and step.output["decision"]["reviewer"] == "ann"


def test_an_unreadable_verdict_fits_the_schema() -> None:
    unreadable = Verdict(confidence=0.0, readable=False, unreadable_reason="no JSON", method="fake", prompt="JUDGE?")
    step = build_step(
        "judge",
        state(neighbours=NEIGHBOURS),
        {"verdict": unreadable, "route": "human_review", "decided_by": "pending_review"},
        threshold=0.7,
        fallback_started_at="2026-01-01T00:00:00+00:00",
    )

    jsonschema.validate([step.as_json()], json_schema())
    assert step.output["verdict"]["label"] is None
    assert step.input["prompt"] == "JUDGE?" and "prompt" not in step.output["verdict"]


def test_markdown_keeps_tables_and_fences_intact() -> None:
    advocate = Argument(role="advocate", text="yes", backend="llm", prompt="Answer in ```json``` please")
    step = build_step(
        "advocate",
        state(neighbours=NEIGHBOURS),
        {"advocate": advocate},
        threshold=0.7,
        fallback_started_at="2026-01-01T00:00:00+00:00",
    )
    retrieve = build_step(
        "retrieve", state(), {"neighbours": NEIGHBOURS}, threshold=0.7, fallback_started_at="2026-01-01T00:00:00+00:00"
    )
    report = markdown_report(Trace(run_id="r", claim_id="c", state=state(), steps=[retrieve, step], status="queued"))

    assert "| 1 | n1 | green | 0.800 | A solar \\| panel |" in report
    assert "> 1\\. A claim about" in report  # the claim's own numbering is not a markdown list
    assert "<details><summary>Prompt (27 characters)</summary>" in report
    assert "````text\nAnswer in ```json``` please\n````" in report


def test_durations_read_naturally() -> None:
    assert format_duration(None) == "–"
    assert format_duration(12.34) == "12.3 ms"
    assert format_duration(4_500) == "4.50 s"
    assert format_duration(3 * 3600 * 1000) == "3.0 h"
    assert format_duration(3 * 86400 * 1000) == "3.0 days"


def test_the_graph_and_the_trace_follow_one_node_table() -> None:
    graph = build_graph()
    assert set(NODES) == set(TRACED) == set(Node)
    assert set(graph.nodes) - {"__start__"} == {node.value for node in Node}
