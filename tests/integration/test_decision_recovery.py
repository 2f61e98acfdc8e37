"""A decision killed half-way is never stuck: the thread is the truth, and the next session (or the
next decision on that claim) rebuilds the ledger row and the review from it (issue 15, item 1)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from langgraph.types import Command

from claimcourt.config import Settings
from claimcourt.review.desk import ReviewDesk
from claimcourt.state import HumanDecision
from tests.review_support import RUN_ID, counts, review_settings, review_ws, reviews, waiting_states

__all__ = ["review_settings", "review_ws"]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def _decide_until_human_review(settings: Settings, claim_id: str) -> None:
    """The thread takes the decision (human_review ran) and the process stops before `finalize`."""

    async def go() -> None:
        async with ReviewDesk(settings, RUN_ID) as desk:
            decision = HumanDecision(label=1, reviewer="ann", note="half")
            await desk.threads.graph.ainvoke(
                Command(resume=decision.model_dump()),
                desk.threads.config(claim_id),
                context=desk.deps,
                interrupt_after=["human_review"],
            )

    run(go())


def _assert_settled(ws: Path, claim_id: str, *, label: int, reviewer: str) -> None:
    assert counts(ws)["pending_review"] == 23
    assert counts(ws)["human"] == 1
    (row,) = reviews(ws)
    assert (row["claim_id"], row["label"], row["reviewer"], row["resumed_thread"]) == (claim_id, label, reviewer, 1)


def test_a_half_decision_in_the_thread_is_reconciled_by_the_next_session(
    review_settings: Settings, review_ws: Path
) -> None:
    first = waiting_states(review_ws)[0]
    _decide_until_human_review(review_settings, first.claim_id)
    assert counts(review_ws)["pending_review"] == 24 and reviews(review_ws) == []  # the half state of the issue

    async def reconcile() -> tuple[int, Any]:
        async with ReviewDesk(review_settings, RUN_ID) as desk:
            fixed = await desk.reconcile()
            return fixed, await desk.threads.current(first.claim_id)

    fixed, state = run(reconcile())
    assert fixed == 1
    assert state.decided_by == "human" and state.final_label == 1
    _assert_settled(review_ws, first.claim_id, label=1, reviewer="ann")
    assert reviews(review_ws)[0]["source"] == "recovered"


def test_deciding_a_claim_whose_thread_holds_a_half_decision_settles_it_instead_of_failing(
    review_settings: Settings, review_ws: Path
) -> None:
    first = waiting_states(review_ws)[0]
    _decide_until_human_review(review_settings, first.claim_id)

    async def decide() -> Any:
        async with ReviewDesk(review_settings, RUN_ID) as desk:
            return await desk.decide(
                first.claim_id, HumanDecision(label=0, reviewer="bob", note="read the claim"), source="interactive"
            )

    outcome = run(decide())
    assert outcome.status == "decided_elsewhere"  # ann's decision stands; bob's is kept beside it
    assert counts(review_ws)["human"] == 1 and counts(review_ws)["pending_review"] == 23
    assert sorted((r["reviewer"], r["resumed_thread"]) for r in reviews(review_ws)) == [("ann", 1), ("bob", 0)]


KILLER = """
import asyncio, os, signal, sys
sys.path.insert(0, {src!r})
from claimcourt.config import load_settings
from claimcourt.review.desk import ReviewDesk
from claimcourt.state import HumanDecision
point = sys.argv[1]

def die(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

if point == "commit":
    # The thread holds the finished decision; the store transaction (ledger + review) never commits.
    from claimcourt.store.reviews import ReviewStore
    ReviewStore.add = die
else:
    # The decision is in the thread (human_review ran and its checkpoint was written), `finalize`
    # never finishes.
    import claimcourt.graph.builder as builder

    async def die_in_finalize(state):
        # The checkpointer writes human_review's checkpoint in the background while this node runs:
        # die once the thread, read as the next session will read it, holds the unfinished decision.
        from claimcourt.store import open_checkpointer, thread_config, view

        while True:
            async with open_checkpointer(settings) as saver:
                snapshot = await builder.build_graph(saver).aget_state(thread_config("r1", state.claim_id))
            if view(snapshot).decision_unfinished:
                die()
            await asyncio.sleep(0.01)

    from claimcourt.vocab import Node

    builder.NODES[Node.FINALIZE] = die_in_finalize  # the graph is built from its node table

settings = load_settings(overrides={{"workspace": sys.argv[2]}}, environ={{}})

async def main():
    async with ReviewDesk(settings, "r1") as desk:
        decision = HumanDecision(label=1, reviewer="ann", note="read the claim")
        await desk.decide(sys.argv[3], decision, source="interactive")

asyncio.run(main())
"""


@pytest.mark.parametrize("point", ["commit", "between_nodes"])
def test_a_review_process_killed_at_the_decision_is_settled_next_time(
    review_settings: Settings, review_ws: Path, tmp_path: Path, point: str
) -> None:
    first = waiting_states(review_ws)[0]
    src = str(Path(__file__).resolve().parents[2] / "src")
    script = tmp_path / "killer.py"
    script.write_text(textwrap.dedent(KILLER.format(src=src)))
    proc = subprocess.run(
        [sys.executable, str(script), point, str(review_ws), first.claim_id],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -9, proc.stderr
    assert counts(review_ws)["pending_review"] == 24 and reviews(review_ws) == []

    async def session() -> int:
        async with ReviewDesk(review_settings, RUN_ID) as desk:
            return await desk.reconcile()

    assert run(session()) == 1
    _assert_settled(review_ws, first.claim_id, label=1, reviewer="ann")


def test_pending_and_export_agree_with_a_half_decided_thread(
    review_settings: Settings, review_ws: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from claimcourt.cli.app import app
    from tests.conftest import read_csv

    first = waiting_states(review_ws)[0]
    _decide_until_human_review(review_settings, first.claim_id)
    pending = CliRunner().invoke(app, ["pending", "--run-id", RUN_ID, "--ids", "-w", str(review_ws)])
    assert pending.exit_code == 0, pending.output
    assert first.claim_id not in pending.output.split() and len(pending.output.split()) == 23
    gold = tmp_path / "gold.csv"
    export = CliRunner().invoke(app, ["export", "--run-id", RUN_ID, "-o", str(gold), "-w", str(review_ws)])
    assert export.exit_code == 0, export.output
    (row,) = [r for r in read_csv(gold) if r["id"] == first.claim_id]
    assert (row["label"], row["decided_by"]) == ("1", "human")
