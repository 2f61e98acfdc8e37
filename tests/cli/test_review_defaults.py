"""Honest defaults around review: a sheet says what its people saw, `run -o` files follow later decisions,
`eval` says when a results file is stale, `--version`."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from typer.testing import CliRunner

from claimcourt import __version__
from claimcourt.cli.app import app
from claimcourt.config import load_settings
from claimcourt.store import open_store
from tests.conftest import read_csv, write_csv
from tests.review_support import RUN_ID, THRESHOLD, counts, review_ws, reviews, waiting_states

__all__ = ["review_ws"]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_version() -> None:
    code, out = invoke("--version")
    assert code == 0 and out == f"claimcourt {__version__}"


def test_a_sheet_must_say_whether_its_people_saw_the_judge(review_ws: Path, tmp_path: Path) -> None:
    claim = waiting_states(review_ws)[0].claim_id
    sheet = write_csv(tmp_path / "d.csv", [{"id": claim, "label": 1}])
    code, out = invoke("review", "--from", str(sheet), "-w", str(review_ws))
    assert code == 2 and "--shown" in out and "--blind" in out and "Traceback" not in out
    code, out = invoke("review", "--from", str(sheet), "--shown", "--blind", "-w", str(review_ws))
    assert code == 2 and "contradict" in out
    assert counts(review_ws)["pending_review"] == 24  # nothing was applied

    assert invoke("review", "--from", str(sheet), "--blind", "--reviewer", "ann", "-w", str(review_ws))[0] == 0
    (row,) = reviews(review_ws)
    assert row["verdict_shown"] == 0


def test_a_run_o_file_is_rewritten_by_later_decisions_and_eval_flags_a_stale_copy(
    review_ws: Path, tmp_path: Path, silver_rows: list[dict[str, str]]
) -> None:
    store = open_store(load_settings(overrides={"workspace": review_ws}, environ={}))
    try:
        batch = store.ledger.run(RUN_ID).input_file
    finally:
        store.close()
    labels = tmp_path / "labels.csv"
    # Resuming the finished run with -o writes (and records) the results file; nothing is debated again.
    code, out = invoke(
        "run", batch, "--run-id", RUN_ID, "--threshold", str(THRESHOLD), "-o", str(labels), "-w", str(review_ws)
    )
    assert code == 0, out
    stale = tmp_path / "copy.csv"
    shutil.copy(labels, stale)
    before = os.stat(stale).st_mtime - 60
    os.utime(stale, (before, before))
    assert {r["decided_by"] for r in read_csv(labels)} == {"pending_review"}

    first = waiting_states(review_ws)[0]
    # --shown: a row that may overrule the Judge says why (the review policy).
    sheet = write_csv(tmp_path / "d.csv", [{"id": first.claim_id, "label": 1, "note": "read the claim"}])
    assert invoke("review", "--from", str(sheet), "--shown", "--reviewer", "ann", "-w", str(review_ws))[0] == 0
    rewritten = {r["id"]: r for r in read_csv(labels)}
    assert rewritten[first.claim_id]["decided_by"] == "human" and rewritten[first.claim_id]["label"] == "1"

    ids = {r["id"] for r in read_csv(labels)}
    gold = write_csv(
        tmp_path / "gold.csv", [{"id": r["id"], "label": r["label"]} for r in silver_rows if r["id"] in ids]
    )
    common = ["--gold", str(gold), "--run-id", RUN_ID, "--bootstrap", "0", "-w", str(review_ws)]
    code, out = invoke("eval", str(stale), "-o", str(tmp_path / "e1"), *common)
    assert code == 0, out
    assert "was written before run 'r1' last changed" in out
    code, out = invoke("eval", str(labels), "-o", str(tmp_path / "e2"), *common)
    assert code == 0, out
    assert "written before" not in out
