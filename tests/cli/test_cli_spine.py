"""The index / run / demo commands through Typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.config import Settings
from tests.conftest import read_csv

runner = CliRunner()


def test_demo_indexes_and_runs_the_bundled_examples(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    assert "The index holds 48 labelled claims" in result.output
    rows = read_csv(tmp_path / "ws" / "runs" / "demo" / "results.csv")
    assert len(rows) == 16
    assert {r["decided_by"] for r in rows} <= {"judge", "pending_review"}
    assert "run demo" in result.output
    again = runner.invoke(app, ["demo", "--workspace", str(tmp_path / "ws")])
    assert again.exit_code == 0, again.output
    assert "16 already finished" in again.output
    assert len(read_csv(tmp_path / "ws" / "runs" / "demo" / "results.csv")) == 16


def test_index_then_run_with_flags(indexed_settings: Settings, silver_batch_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "labels.csv"
    result = runner.invoke(
        app,
        [
            "run",
            str(silver_batch_csv),
            "-o",
            str(out),
            "--run-id",
            "cli",
            "--threshold",
            "0.9",
            "--limit",
            "10",
            "--workspace",
            str(indexed_settings.workspace),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = read_csv(out)
    assert len(rows) == 10
    assert out.with_suffix(".jsonl").exists()
    for row in rows:
        assert (row["decided_by"] == "judge") == (float(row["confidence"]) >= 0.9)
    assert "waiting for a person" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"id,text\n1,a claim\n1,another\n", "bad.csv, row 2, column 'id': duplicate id '1'"),
        (b"id,text\n1,a claim\n2,\n", "bad.csv, row 2, column 'text': empty claim text"),
        (b"id,text\n1,caf\xe9\n", "bad.csv, row 1, column 'text': contains bytes that are not UTF-8"),
        (b"doc_id,id,text\n1,2,x\n", "ambiguous id column"),
    ],
)
def test_bad_batches_exit_2_with_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "bad.csv").write_bytes(content)
    result = runner.invoke(app, ["run", str(tmp_path / "bad.csv"), "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_bad_label_in_an_index_file_exits_2(tmp_path: Path) -> None:
    (tmp_path / "lab.csv").write_text("id,text,label\n1,a,1\n2,b,green\n")
    result = runner.invoke(app, ["index", str(tmp_path / "lab.csv"), "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert "row 2, column 'label': label must be 0 or 1, got 'green'" in " ".join(result.output.split())


def test_running_against_an_empty_index_exits_2(tmp_path: Path) -> None:
    (tmp_path / "b.csv").write_text("id,text\n1,a solar cell\n")
    result = runner.invoke(app, ["run", str(tmp_path / "b.csv"), "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 2
    assert "index of labelled claims is empty" in result.output


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(tmp_path / "nope.csv")])
    assert result.exit_code == 2
    assert "nope.csv: file not found" in result.output


def test_workspace_of_another_embedding_model_exits_2(indexed_settings: Settings, silver_batch_csv: Path) -> None:
    config = indexed_settings.workspace / "claimcourt.toml"
    config.write_text('[offline]\nembedding_model = "some/other-model"\n')
    result = runner.invoke(app, ["run", str(silver_batch_csv), "--workspace", str(indexed_settings.workspace)])
    assert result.exit_code == 2
    assert "built with embedding model 'sentence-transformers/all-MiniLM-L6-v2'" in " ".join(result.output.split())
