"""What a run reports about claims other workers took over: each claim once, and not when this worker
leased it back and recorded it after all."""

from __future__ import annotations

from pathlib import Path

from claimcourt.jobs.debating import Progress, RunSummary


def _summary() -> RunSummary:
    return RunSummary(
        run_id="r", progress=Progress(total=3), counts={}, results_csv=Path("r.csv"), results_jsonl=Path("r.jsonl")
    )


def test_a_claim_lost_twice_is_reported_once() -> None:
    summary = _summary()
    summary.lost("id:2")
    summary.lost("id:7")
    summary.lost("id:2")
    assert summary.taken_over == ["id:2", "id:7"]


def test_a_claim_leased_back_and_recorded_is_no_longer_reported() -> None:
    summary = _summary()
    summary.lost("id:2")
    summary.lost("id:2")
    summary.regained("id:2")
    summary.regained("id:9")  # never lost: nothing to undo
    assert summary.taken_over == []
