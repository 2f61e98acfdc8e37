"""A claim whose thread was started but holds no claim yet: its worker was stopped by the lease fence
(or killed) right after LangGraph saved the input checkpoint, which holds only the reducers' defaults
(`{'timings': {}}`). Trace, review and the run's results see it as not debated yet, never a traceback,
and running the batch again debates it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.config import Settings
from claimcourt.deps import Deps, build_search
from claimcourt.errors import LeaseLostError, RunStateError
from claimcourt.graph.builder import build_graph
from claimcourt.jobs.runner import Runner
from claimcourt.review.desk import ReviewDesk
from claimcourt.state import ClaimState, HumanDecision
from claimcourt.store import open_checkpointer, open_store, thread_config
from claimcourt.tables import ClaimTable
from claimcourt.trace.replay import replay
from tests.conftest import FakeBackend, read_csv, write_csv

RUN, CLAIM, TEXT = "fenced", "c:1", "A wind turbine blade with a carbon fibre spar."


def start_thread_then_lose_the_lease(settings: Settings, deps: Deps) -> None:
    """What a worker does when another takes its claim over right after the thread's input is saved:
    the product's fenced checkpointer lets the first checkpoint through and refuses every later write.
    `durability="sync"` saves that input checkpoint before the first node runs, as a worker killed
    there would have left it."""
    writes: list[str] = []

    def fence(thread: str) -> bool:
        writes.append(thread)
        return len(writes) == 1

    async def run() -> None:
        async with open_checkpointer(settings, fence=fence) as saver:
            graph = build_graph(saver)
            with pytest.raises(LeaseLostError):
                await graph.ainvoke(
                    ClaimState(claim_id=CLAIM, text=TEXT, run_id=RUN),
                    thread_config(RUN, CLAIM),
                    context=deps,
                    durability="sync",
                )
            # The thread exists, and holds no claim: the state the crash read.
            snapshot = await graph.aget_state(thread_config(RUN, CLAIM))
            assert snapshot.values and "claim_id" not in snapshot.values, snapshot.values

    asyncio.run(run())


@pytest.fixture
def fenced(indexed_settings: Settings, tmp_path: Path) -> tuple[Settings, Deps, Path]:
    batch = write_csv(tmp_path / "batch.csv", [{"id": CLAIM, "text": TEXT}])
    with open_store(indexed_settings) as store:
        store.ledger.ensure_run(RUN, input_file=str(batch), settings=indexed_settings)
        store.ledger.add_claims(RUN, [(CLAIM, 0)])
    deps = Deps(indexed_settings, build_search(indexed_settings), FakeBackend({CLAIM: 0.95}))
    start_thread_then_lose_the_lease(indexed_settings, deps)
    return indexed_settings, deps, batch


def test_trace_says_the_claim_is_not_debated_yet(fenced: tuple[Settings, Deps, Path]) -> None:
    settings, _, batch = fenced
    with pytest.raises(RunStateError, match="not debated yet"):
        asyncio.run(replay(settings, CLAIM, run_id=RUN))

    result = CliRunner().invoke(app, ["trace", CLAIM, "--run-id", RUN, "--workspace", str(settings.workspace)])

    assert result.exit_code != 0
    assert "not debated yet (status: queued)" in result.output, result.output
    assert f"claimcourt run {batch} --run-id {RUN}" in result.output  # what to do about it
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output


def test_review_sees_no_debate_and_refuses_a_decision_in_one_line(fenced: tuple[Settings, Deps, Path]) -> None:
    settings, deps, _ = fenced

    async def review() -> None:
        async with ReviewDesk(settings, RUN, deps=deps) as desk:
            assert await desk.threads.current(CLAIM) is None
            assert await desk.threads.waiting_state(CLAIM) is None
            assert desk.take_next("ann") is None  # nothing waits for a person
            with pytest.raises(RunStateError, match="not debated yet"):
                await desk.decide(CLAIM, HumanDecision(label=1, reviewer="ann", note="n"), source="interactive")

    asyncio.run(review())
    result = CliRunner().invoke(app, ["pending", "--workspace", str(settings.workspace)])
    assert result.exit_code == 0, result.output


def test_running_the_batch_again_debates_it_and_its_result_is_written(fenced: tuple[Settings, Deps, Path]) -> None:
    settings, deps, batch = fenced

    summary = asyncio.run(Runner(settings, deps=deps).run(ClaimTable(batch), run_id=RUN))

    assert summary.counts["judge"] == 1, summary.counts
    assert [(r["id"], r["decided_by"]) for r in read_csv(summary.results_csv)] == [(CLAIM, "judge")]
    trace = asyncio.run(replay(settings, CLAIM, run_id=RUN))
    assert trace.steps[0].node == "retrieve"
    assert trace.state.verdict is not None and trace.state.decided_by == "judge"
