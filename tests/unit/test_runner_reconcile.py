"""How a rerun treats a thread left behind by a killed run (the runner's reconcile step), with a fake
graph: every shape a SIGKILL can leave must end in exactly one finished debate."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from claimcourt.config import Settings
from claimcourt.deps import Deps
from claimcourt.jobs.debating import debate_claim
from claimcourt.tables import ClaimRow
from tests.conftest import FakeBackend

FINISHED = {"claim_id": "c1", "text": "t", "run_id": "r", "decided_by": "judge", "final_label": 1}


@dataclass
class Task:
    interrupts: tuple[Any, ...] = ()


@dataclass
class Snapshot:
    values: dict[str, Any]
    next: tuple[str, ...] = ()
    tasks: tuple[Task, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)


class FakeGraph:
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.invoked: list[Any] = []

    async def aget_state(self, config: dict[str, Any]) -> Snapshot:
        return self.snapshot

    async def ainvoke(self, value: Any, config: dict[str, Any], *, context: Any) -> dict[str, Any]:
        self.invoked.append(value)
        return FINISHED


@pytest.mark.parametrize(
    ("snapshot", "expected"),
    [
        (Snapshot(values={}), "fresh"),  # no checkpoint at all
        (Snapshot(values={"timings": {}}), "fresh"),  # killed while the input was being saved
        (Snapshot(values={"claim_id": "c1", "text": "t"}, metadata={"step": -1}), "fresh"),  # input saved only
        (Snapshot(values={"claim_id": "c1", "text": "t"}, next=("judge",), metadata={"step": 2}), "resume"),
        (Snapshot(values=FINISHED, metadata={"step": 4}), "done"),
        (
            Snapshot(
                values={**FINISHED, "decided_by": "pending_review", "final_label": None},
                next=("human_review",),
                tasks=(Task(interrupts=("waiting",)),),
                metadata={"step": 3},
            ),
            "done",
        ),
    ],
)
def test_reconcile(settings: Settings, snapshot: Snapshot, expected: str) -> None:
    deps = Deps(settings, search=None, backend=FakeBackend())
    graph = FakeGraph(snapshot)
    state = asyncio.run(debate_claim(graph, deps, "r", ClaimRow(row=1, id="c1", text="t"), reconcile=True))
    assert state.claim_id == "c1"
    if expected == "fresh":
        assert len(graph.invoked) == 1 and graph.invoked[0].claim_id == "c1"  # started from its input
    elif expected == "resume":
        assert graph.invoked == [None]  # continued from its last checkpoint
    else:
        assert graph.invoked == []  # nothing run again
