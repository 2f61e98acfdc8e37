"""The real graph, the real SQLite checkpointer, real Chroma and MiniLM on real claims."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from claimcourt.config import Settings
from claimcourt.deps import Deps, build_search
from claimcourt.errors import RunStateError
from claimcourt.graph.builder import build_graph
from claimcourt.jobs.runner import RESULT_COLUMNS, Runner
from claimcourt.state import thread_id
from claimcourt.store import open_checkpointer, open_store
from claimcourt.tables import ClaimTable
from tests.conftest import FakeBackend, read_csv


def run(settings: Settings, batch: Path, run_id: str, **kwargs: object):  # type: ignore[no-untyped-def]
    return asyncio.run(Runner(settings, **kwargs).run(ClaimTable(batch), run_id=run_id))  # type: ignore[arg-type]


def test_offline_run_writes_every_claim_with_its_debate(indexed_settings: Settings, silver_batch_csv: Path) -> None:
    summary = run(indexed_settings, silver_batch_csv, "r1")
    rows = read_csv(summary.results_csv)
    batch_ids = [r["id"] for r in read_csv(silver_batch_csv)]
    assert [r["id"] for r in rows] == batch_ids  # input order, each once
    assert tuple(rows[0]) == RESULT_COLUMNS
    for row in rows:
        assert row["decided_by"] in ("judge", "pending_review")
        p = float(row["p_green"])
        assert float(row["confidence"]) == pytest.approx(max(p, 1 - p), abs=1e-6)
        assert row["judge_label"] == str(int(p >= 0.5))
        if row["decided_by"] == "judge":
            assert float(row["confidence"]) >= 0.70 and row["label"] == row["judge_label"]
        else:
            assert float(row["confidence"]) < 0.70 and row["label"] == ""
        assert len(row["neighbour_ids"].split(";")) == indexed_settings.top_k
        assert "Case for GREEN" in row["advocate"] and "Case for NOT GREEN" in row["skeptic"]
    debates = [json.loads(line) for line in summary.results_jsonl.read_text().splitlines()]
    assert [d["claim_id"] for d in debates] == batch_ids
    assert {"retrieve", "advocate", "skeptic", "judge"} <= set(debates[0]["timings"])
    # The index fitted the Judge's weighing of the briefs, and the rationale says what moved the verdict.
    assert {d["verdict"]["method"] for d in debates} == {"weighed briefs"}
    assert "Moved most by" in debates[0]["verdict"]["rationale"]
    # Better than chance on real claims against a real 80-claim index.
    truth = {r["id"]: r["label"] for r in read_csv(silver_batch_csv.parent / "labelled.csv")}
    del truth  # the batch is disjoint from the index; its labels come from the silver file
    assert summary.counts["judge"] + summary.counts["pending_review"] == len(batch_ids)


def test_low_confidence_claims_wait_at_the_interrupt(indexed_settings: Settings, silver_batch_csv: Path) -> None:
    settings = indexed_settings.model_copy(update={"threshold": 0.99})
    summary = run(settings, silver_batch_csv, "strict")
    assert summary.counts["pending_review"] >= 20

    async def waiting() -> tuple[tuple[str, ...], dict]:
        async with open_checkpointer(settings) as saver:
            graph = build_graph(saver)
            claim_id = read_csv(silver_batch_csv)[0]["id"]
            snap = await graph.aget_state({"configurable": {"thread_id": thread_id("strict", claim_id)}})
            return snap.next, snap.tasks[0].interrupts[0].value

    next_nodes, request = asyncio.run(waiting())
    assert next_nodes == ("human_review",)
    assert "below the threshold 0.99" in request["reason"]


def test_rerun_skips_finished_claims(indexed_settings: Settings, silver_batch_csv: Path) -> None:
    run(indexed_settings, silver_batch_csv, "again")
    backend = FakeBackend()
    deps = Deps(indexed_settings, build_search(indexed_settings), backend)
    summary = run(indexed_settings, silver_batch_csv, "again", deps=deps)
    assert backend.calls == []  # nothing debated twice
    assert summary.progress.skipped == 24
    assert len(read_csv(summary.results_csv)) == 24


def test_a_run_stopped_between_nodes_resumes_from_its_checkpoint(
    indexed_settings: Settings, silver_batch_csv: Path
) -> None:
    settings = indexed_settings
    claim = read_csv(silver_batch_csv)[0]
    with open_store(settings) as store:
        store.ledger.ensure_run("partial", input_file=str(silver_batch_csv), settings=settings)
        store.ledger.add_claims("partial", [(claim["id"], 1)])
    backend = FakeBackend()
    deps = Deps(settings, build_search(settings), backend)

    async def stop_before_judge() -> None:
        async with open_checkpointer(settings) as saver:
            graph = build_graph(saver)
            config = {"configurable": {"thread_id": thread_id("partial", claim["id"])}}
            start = {"claim_id": claim["id"], "text": claim["text"], "run_id": "partial"}
            async for _ in graph.astream(start, config, context=deps, interrupt_before=["judge"]):
                pass

    asyncio.run(stop_before_judge())
    assert ("judge", claim["id"]) not in backend.calls
    debated_before = list(backend.calls)
    summary = run(settings, silver_batch_csv, "partial", deps=deps)
    # The stopped claim resumed at the judge: its arguments were not made again.
    assert backend.calls.count(("advocate", claim["id"])) == debated_before.count(("advocate", claim["id"])) == 1
    assert ("judge", claim["id"]) in backend.calls
    assert len(read_csv(summary.results_csv)) == 24


def test_resuming_with_another_threshold_is_refused(indexed_settings: Settings, silver_batch_csv: Path) -> None:
    run(indexed_settings, silver_batch_csv, "fixed")
    with pytest.raises(RunStateError, match=r"threshold 0\.7"):
        run(indexed_settings.model_copy(update={"threshold": 0.5}), silver_batch_csv, "fixed")


def test_a_failing_claim_is_recorded_and_the_rest_finish(indexed_settings: Settings, silver_batch_csv: Path) -> None:
    bad_id = read_csv(silver_batch_csv)[3]["id"]

    class Flaky(FakeBackend):
        async def judge(self, state):  # type: ignore[no-untyped-def]
            if state.claim_id == bad_id:
                raise RuntimeError("model fell over")
            return await super().judge(state)

    deps = Deps(indexed_settings, build_search(indexed_settings), Flaky())
    summary = run(indexed_settings, silver_batch_csv, "flaky", deps=deps)
    rows = {r["id"]: r for r in read_csv(summary.results_csv)}
    assert rows[bad_id]["decided_by"] == "error"
    assert "model fell over" in rows[bad_id]["error"]
    assert summary.counts["error"] == 1 and summary.counts["judge"] == 23
    # A rerun retries the failed claim (the backend is fine now).
    summary = run(
        indexed_settings,
        silver_batch_csv,
        "flaky",
        deps=Deps(indexed_settings, build_search(indexed_settings), FakeBackend()),
    )
    assert summary.counts["error"] == 0 and summary.counts["judge"] == 24
