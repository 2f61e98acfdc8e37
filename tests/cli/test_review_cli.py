"""`claimcourt review --from`, `pending`, `export` and `agreement`, as a user runs them."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claimcourt.cli.app import app
from tests.conftest import read_csv, write_csv
from tests.review_support import RUN_ID, counts, review_settings, review_ws, reviews, waiting_states

__all__ = ["review_settings", "review_ws"]

CLAIMCOURT = str(Path(sys.executable).with_name("claimcourt"))


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, " ".join(result.output.split())


def decisions_file(path: Path, rows: list[dict[str, object]]) -> Path:
    columns = ["id", "label", "note", "reviewer"]
    return write_csv(path, [{c: row.get(c, "") for c in columns} for row in rows], columns)


def test_bulk_decisions_bring_pending_to_zero(review_ws: Path, tmp_path: Path) -> None:
    states = waiting_states(review_ws)
    # The people saw the Judge (--shown): every row that overrules it says why, as the policy asks.
    rows = [{"id": s.claim_id, "label": i % 2, "note": "sheet" if i == 0 else "read"} for i, s in enumerate(states)]
    sheet = decisions_file(tmp_path / "decisions.csv", rows)

    code, out = invoke("review", "--shown", "--from", str(sheet), "--reviewer", "ann", "-w", str(review_ws))
    assert code == 0, out
    assert "Applied 24 decisions" in out
    assert "0 claim(s) still wait" in out

    code, out = invoke("pending", "-w", str(review_ws))
    assert code == 0, out
    assert "Nothing is waiting for a person" in out
    assert counts(review_ws)["human"] == 24
    assert {r["reviewer"] for r in reviews(review_ws)} == {"ann"}
    assert all(r["source"] == "bulk" and r["verdict_shown"] == 1 for r in reviews(review_ws))
    # The run's results file now carries the people's labels.
    results = {r["id"]: r for r in read_csv(review_ws / "runs" / RUN_ID / "results.csv")}
    assert results[states[0].claim_id]["decided_by"] == "human"
    assert results[states[0].claim_id]["note"] == "sheet"

    # Applying the same sheet again is safe: nothing changes.
    code, out = invoke(
        "review", "--shown", "--from", str(sheet), "--reviewer", "ann", "-w", str(review_ws), "--run-id", RUN_ID
    )
    assert code == 0, out
    assert "Applied 0 decisions" in out
    assert "24 were already applied" in out
    assert len(reviews(review_ws, active_only=False)) == 24


def test_unknown_and_not_waiting_ids_are_reported_and_nothing_is_applied(review_ws: Path, tmp_path: Path) -> None:
    states = waiting_states(review_ws)
    first = decisions_file(tmp_path / "first.csv", [{"id": states[0].claim_id, "label": 1, "note": "read"}])
    assert invoke("review", "--shown", "--from", str(first), "--reviewer", "ann", "-w", str(review_ws))[0] == 0

    sheet = decisions_file(
        tmp_path / "d.csv",
        [
            {"id": states[1].claim_id, "label": 1},
            {"id": "no-such-claim", "label": 0},
            {"id": states[0].claim_id, "label": 0},  # decided already, by ann with another label
        ],
    )
    code, out = invoke("review", "--shown", "--from", str(sheet), "--reviewer", "bob", "-w", str(review_ws))
    assert code == 2
    assert "no-such-claim" in out and "unknown id" in out
    assert states[0].claim_id in out and "not waiting" in out
    assert "nothing was applied" in out
    assert counts(review_ws)["pending_review"] == 23  # states[1] was not touched


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,label\n{id},2\n", "row 1, column 'label': label must be 0 or 1, got '2'"),
        ("id,label\n{id},1\n{id},0\n", "duplicate id"),
    ],
)
def test_bad_decisions_files_get_a_clear_message(review_ws: Path, tmp_path: Path, content: str, message: str) -> None:
    claim = waiting_states(review_ws)[0].claim_id
    sheet = tmp_path / "d.csv"
    sheet.write_text(content.format(id=claim), encoding="utf-8")
    code, out = invoke("review", "--shown", "--from", str(sheet), "-w", str(review_ws))
    assert code == 2
    assert message in out
    assert "Traceback" not in out
    assert counts(review_ws)["pending_review"] == 24


def test_unknown_run_id_is_an_error_for_every_command(review_ws: Path, tmp_path: Path) -> None:
    for args in (
        ["review"],
        ["pending"],
        ["export", "-o", str(tmp_path / "g.csv")],
        ["agreement"],
    ):
        code, out = invoke(*args, "--run-id", "nope", "-w", str(review_ws))
        assert code == 2, (args, out)
        assert "unknown run id 'nope'" in out
        assert "known runs: r1" in out


def test_nothing_pending_is_friendly(tmp_path: Path) -> None:
    code, out = invoke("review", "-w", str(tmp_path / "empty"))
    assert code == 0
    assert "Nothing is waiting for a person" in out
    assert not (tmp_path / "empty").exists()  # looking created nothing
    code, out = invoke("pending", "-w", str(tmp_path / "empty"))
    assert code == 0
    assert "Nothing is waiting for a person" in out


def test_pending_lists_and_counts_per_run(review_ws: Path) -> None:
    states = waiting_states(review_ws)
    code, out = invoke("pending", "-w", str(review_ws))
    assert code == 0
    assert "r1" in out
    assert "24 claim(s) wait for a person in 1 run(s)" in out
    code, out = invoke("pending", "--run-id", RUN_ID, "--ids", "-w", str(review_ws))
    assert code == 0
    assert sorted(out.split()) == sorted(s.claim_id for s in states)
    code, out = invoke("pending", "--run-id", RUN_ID, "-w", str(review_ws))
    assert states[0].claim_id in out
    assert "lowest confidence first" in out


def test_export_carries_human_labels_and_provenance(review_ws: Path, tmp_path: Path) -> None:
    states = waiting_states(review_ws)
    judge = states[0].verdict.label  # type: ignore[union-attr]
    sheet = decisions_file(
        tmp_path / "d.csv",
        [
            {"id": states[0].claim_id, "label": 1 - judge, "note": "reads as a drug", "reviewer": "ann"},
            {"id": states[1].claim_id, "label": 1},
        ],
    )
    assert invoke("review", "--from", str(sheet), "--reviewer", "bob", "--blind", "-w", str(review_ws))[0] == 0

    gold = tmp_path / "gold.csv"
    code, out = invoke("export", "--run-id", RUN_ID, "-o", str(gold), "-w", str(review_ws))
    assert code == 0, out
    assert "2 decided by a person" in out
    assert "22 claim(s) still wait" in out
    rows = {r["id"]: r for r in read_csv(gold)}
    assert set(rows) == {states[0].claim_id, states[1].claim_id}
    row = rows[states[0].claim_id]
    assert row["label"] == str(1 - judge)
    assert row["decided_by"] == "human"
    assert row["human_label"] == str(1 - judge)
    assert row["reviewer"] == "ann"
    assert row["note"] == "reads as a drug"
    assert row["verdict_shown"] == "false"
    assert row["judge_label"] == str(judge)
    assert float(row["judge_confidence"]) == pytest.approx(states[0].verdict.confidence, abs=1e-5)  # type: ignore[union-attr]
    assert row["decided_at"] and row["judged_at"] and row["exported_at"]
    assert row["review_source"] == "bulk"
    assert row["text"] == states[0].text
    assert rows[states[1].claim_id]["reviewer"] == "bob"

    import pyarrow.parquet as pq

    parquet = tmp_path / "gold.parquet"
    assert invoke("export", "-o", str(parquet), "--human-only", "-w", str(review_ws))[0] == 0
    table = pq.read_table(parquet).to_pylist()
    assert {r["id"] for r in table} == set(rows)
    by_id = {r["id"]: r for r in table}
    assert by_id[states[0].claim_id]["verdict_shown"] is False
    assert by_id[states[0].claim_id]["label"] == 1 - judge

    code, out = invoke("export", "-o", str(tmp_path / "gold.xlsx"), "-w", str(review_ws))
    assert code == 2
    assert ".csv or .parquet" in out


def test_merge_silver_overrides_silver_labels_with_human_ones(review_ws: Path, tmp_path: Path) -> None:
    states = waiting_states(review_ws)
    a, b, c = states[0], states[1], states[2]
    sheet = decisions_file(
        tmp_path / "d.csv",
        [{"id": a.claim_id, "label": 1, "note": "read"}, {"id": b.claim_id, "label": 0, "note": "read"}],
    )
    assert invoke("review", "--shown", "--from", str(sheet), "--reviewer", "ann", "-w", str(review_ws))[0] == 0
    silver = write_csv(
        tmp_path / "silver.csv",
        [
            {"id": a.claim_id, "text": a.text, "label": 0},  # a person says 1: overridden
            {"id": "other", "text": "1. A bicycle.", "label": 0},
            {"id": c.claim_id, "text": c.text, "label": 1},  # still waiting: silver stays
        ],
    )
    out_path = tmp_path / "train.csv"
    code, out = invoke("export", "-o", str(out_path), "--merge-silver", str(silver), "-w", str(review_ws))
    assert code == 0, out
    assert "1 relabelled" in out
    assert "plus 1 decided claims" in out
    rows = {r["id"]: r for r in read_csv(out_path)}
    assert (rows[a.claim_id]["label"], rows[a.claim_id]["label_source"], rows[a.claim_id]["silver_label"]) == (
        "1",
        "human",
        "0",
    )
    assert (rows["other"]["label"], rows["other"]["label_source"]) == ("0", "silver")
    assert (rows[c.claim_id]["label"], rows[c.claim_id]["label_source"]) == ("1", "silver")
    assert (rows[b.claim_id]["label"], rows[b.claim_id]["label_source"]) == ("0", "human")  # added


def test_agreement_between_reviewers_and_with_the_judge(review_ws: Path, tmp_path: Path) -> None:
    states = waiting_states(review_ws)[:10]
    ann = [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    bob = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]
    first = decisions_file(
        tmp_path / "ann.csv",
        [{"id": s.claim_id, "label": x, "note": "read"} for s, x in zip(states, ann, strict=True)],
    )
    second = decisions_file(
        tmp_path / "bob.csv", [{"id": s.claim_id, "label": x} for s, x in zip(states, bob, strict=True)]
    )
    assert invoke("review", "--shown", "--from", str(first), "--reviewer", "ann", "-w", str(review_ws))[0] == 0
    # bob's decisions on claims ann decided are second opinions; without the flag they are refused.
    code, out = invoke("review", "--shown", "--from", str(second), "--reviewer", "bob", "-w", str(review_ws))
    assert code == 2
    assert "--second-opinion" in out
    code, out = invoke(
        "review", "--from", str(second), "--reviewer", "bob", "--second-opinion", "--blind", "-w", str(review_ws)
    )
    assert code == 0, out
    assert "Applied 10 second opinions" in out

    code, out = invoke("agreement", "-w", str(review_ws), "--json")
    assert code == 0, out
    report = json.loads(out)
    (pair,) = report["between_reviewers"]
    # Hand-computed: p_o = 7/10, p_e = 0.6*0.5 + 0.4*0.5 = 0.5, kappa = 0.2/0.5 = 0.4
    assert (pair["a"], pair["b"], pair["n"], pair["agree"]) == ("ann", "bob", 10, 7)
    assert pair["kappa"] == pytest.approx(0.4)
    judge = [s.verdict.label for s in states]  # type: ignore[union-attr]
    rows = {r["b"]: r for r in report["judge_vs_people"]}
    assert rows["people"]["n"] == 20
    assert rows["ann"]["agree"] == sum(j == x for j, x in zip(judge, ann, strict=True))
    assert rows["people, blind"]["n"] == 10  # bob was blind
    assert rows["people, verdict shown"]["n"] == 10

    code, out = invoke("agreement", "-w", str(review_ws))
    assert code == 0
    cells = " ".join(out.replace("│", " ").split())
    assert "ann vs bob 10 7 0.700 0.400" in cells


def test_a_held_ledger_lock_is_waited_for_then_decisions_go_through(review_ws: Path, tmp_path: Path) -> None:
    """A batch run holds the ledger's write lock: `review --from` says the workspace is busy and waits;
    once the lock is released, the decisions go through. The lock is released only after the command
    has said so (read from its output), so how long it takes to start does not matter; the busy
    timeout is long, since the release, not the timeout, ends the wait."""
    states = waiting_states(review_ws)
    rows = [{"id": s.claim_id, "label": 1, "note": "read the claim"} for s in states[:3]]
    sheet = decisions_file(tmp_path / "d.csv", rows)
    blocker = sqlite3.connect(str(review_ws / "runs.sqlite"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # a batch run in the middle of a ledger transaction
    command = [CLAIMCOURT, "review", "--shown", "--from", str(sheet), "-w", str(review_ws)]
    env = {**os.environ, "CLAIMCOURT_SQLITE_BUSY_TIMEOUT_MS": "600000", "COLUMNS": "200"}
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        seen = []
        try:
            while "the workspace is busy" not in (line := proc.stdout.readline()):
                assert line, f"the command ended without waiting: {''.join(seen)}"
                seen.append(line)
        finally:
            blocker.execute("COMMIT")
            blocker.close()
        out = " ".join((line + proc.stdout.read()).split())
        code = proc.wait()
    assert code == 0, out
    assert counts(review_ws)["human"] == 3


def test_a_lock_held_too_long_stops_with_a_clear_message_and_changes_nothing(review_ws: Path, tmp_path: Path) -> None:
    states = waiting_states(review_ws)
    sheet = decisions_file(tmp_path / "d.csv", [{"id": states[0].claim_id, "label": 1, "note": "read"}])
    blocker = sqlite3.connect(str(review_ws / "runs.sqlite"), isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        code, out = invoke(
            "review",
            "--shown",
            "--from",
            str(sheet),
            "-w",
            str(review_ws),
            env={"CLAIMCOURT_SQLITE_BUSY_TIMEOUT_MS": "300"},
        )
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert code == 2
    assert "is busy" in out and "Nothing was changed" in out
    assert "Traceback" not in out
    assert counts(review_ws)["pending_review"] == 24
    code, out = invoke("review", "--shown", "--from", str(sheet), "-w", str(review_ws))
    assert code == 0, out
    assert counts(review_ws)["human"] == 1


def test_a_shown_sheet_that_overrules_the_judge_without_a_note_is_listed_and_nothing_is_applied(
    review_ws: Path, tmp_path: Path
) -> None:
    states = waiting_states(review_ws)[:3]
    judge = [s.verdict.label for s in states]  # type: ignore[union-attr]
    rows = [
        {"id": states[0].claim_id, "label": judge[0]},  # agrees: no note needed
        {"id": states[1].claim_id, "label": 1 - judge[1], "note": "only a housing"},  # overrules, says why
        {"id": states[2].claim_id, "label": 1 - judge[2]},  # overrules a Judge they saw, silently
    ]
    sheet = decisions_file(tmp_path / "d.csv", rows)
    code, out = invoke("review", "--shown", "--from", str(sheet), "--reviewer", "ann", "-w", str(review_ws))
    assert code == 2, out
    # Only the silent overrule is listed (its row and id; the table wraps the reason at this width).
    assert states[2].claim_id in out and states[0].claim_id not in out and states[1].claim_id not in out
    assert "overruling" in out
    assert "1 refused by the review policy" in out and "nothing was applied" in out
    assert reviews(review_ws) == [] and counts(review_ws)["pending_review"] == 24
    # The same rows made blind need no note: the people could not overrule what they did not see.
    code, out = invoke("review", "--blind", "--from", str(sheet), "--reviewer", "ann", "-w", str(review_ws))
    assert code == 0, out
    assert [r["verdict_shown"] for r in reviews(review_ws)] == [0, 0, 0]


def test_review_without_a_terminal_says_so_in_one_line_and_exits_2(review_ws: Path) -> None:
    command = [CLAIMCOURT, "review", "-w", str(review_ws)]
    with open(os.devnull) as nothing:
        done = subprocess.run(command, stdin=nothing, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    said = (done.stdout + done.stderr).strip()
    assert said.count("\n") == 0 and "review needs a terminal" in said and "review --from SHEET" in said
