from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest

from claimcourt.nodes.finalize import finalize_label
from claimcourt.nodes.judge import judge_claim
from claimcourt.nodes.routing import after_judge, choose_route
from claimcourt.state import ClaimState, HumanDecision, Verdict
from tests.conftest import FakeBackend


@dataclass
class FakeRuntime:
    context: Any


@dataclass
class FakeDeps:
    backend: FakeBackend
    threshold: float = 0.7
    audit_rate: float = 0.0
    audit_seed: int | None = None
    rejudging: bool = False

    def deps(self) -> FakeDeps:
        return self


@pytest.mark.parametrize(
    ("p_green", "route"),
    [
        (0.9, "finalize"),
        (0.1, "finalize"),
        (0.7, "finalize"),
        (0.3, "finalize"),
        (0.69, "human_review"),
        (0.5, "human_review"),
        (0.31, "human_review"),
    ],
)
def test_route_by_confidence(p_green: float, route: str) -> None:
    assert choose_route(Verdict.from_p_green(p_green), 0.70) == route


def test_unreadable_verdict_always_goes_to_a_person() -> None:
    unreadable = Verdict(confidence=1.0, readable=False, unreadable_reason="no JSON")
    assert choose_route(unreadable, 0.0) == "human_review"


def test_judge_node_records_verdict_route_and_status() -> None:
    deps = FakeDeps(FakeBackend({"a": 0.6, "b": 0.95, "c": None}))
    runtime = FakeRuntime(deps)
    out = {cid: asyncio.run(judge_claim(ClaimState(claim_id=cid, text="t"), runtime)) for cid in "abc"}  # type: ignore[arg-type]
    assert (out["a"]["route"], out["a"]["decided_by"]) == ("human_review", "pending_review")
    assert (out["b"]["route"], out["b"]["decided_by"]) == ("finalize", "judge")
    assert out["b"]["verdict"].label == 1
    assert out["c"]["route"] == "human_review"
    assert "judge" in out["a"]["timings"]
    assert not any(o["audit"] for o in out.values())
    # With every claim in the audit draw, the sure one goes to a person too, marked as an audit.
    audited = FakeRuntime(FakeDeps(FakeBackend({"b": 0.95}), audit_rate=1.0, audit_seed=1))
    out_b = asyncio.run(judge_claim(ClaimState(claim_id="b", text="t"), audited))  # type: ignore[arg-type]
    assert (out_b["route"], out_b["decided_by"], out_b["audit"]) == ("human_review", "pending_review", True)


def test_after_judge_follows_the_recorded_route() -> None:
    assert after_judge(ClaimState(claim_id="x", text="t", route="human_review")) == "human_review"
    with pytest.raises(ValueError):
        after_judge(ClaimState(claim_id="x", text="t"))


def test_finalize_prefers_the_person_and_never_defaults() -> None:
    verdict = Verdict.from_p_green(0.9)
    human = HumanDecision(label=0, reviewer="ann")
    assert finalize_label(ClaimState(claim_id="x", text="t", verdict=verdict, human=human)) == {
        "final_label": 0,
        "decided_by": "human",
    }
    assert finalize_label(ClaimState(claim_id="x", text="t", verdict=verdict))["final_label"] == 1
    with pytest.raises(ValueError):
        finalize_label(ClaimState(claim_id="x", text="t", verdict=Verdict(confidence=0, readable=False)))


def test_verdict_confidence_is_the_larger_side() -> None:
    v = Verdict.from_p_green(0.2)
    assert (v.label, v.confidence) == (0, pytest.approx(0.8))
