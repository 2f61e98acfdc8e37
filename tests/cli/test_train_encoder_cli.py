"""`claimcourt train encoder` on real silver claims (a small subset, two steps, short inputs: the
point is the path, not the quality): the folder it writes is an encoder the offline profile indexes
with and runs on, and its card compares the offline Judge's classifier before and after."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.jobs.train.card import CARD_JSON
from tests.conftest import read_csv, write_csv


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def test_a_trained_encoder_indexes_and_runs(tmp_path: Path, silver_rows: list[dict[str, str]]) -> None:
    green = [r for r in silver_rows if r["label"] == "1"][:8]
    other = [r for r in silver_rows if r["label"] == "0"][:8]
    table = write_csv(tmp_path / "labelled.csv", green + other)
    out = tmp_path / "encoder"
    code, output = invoke(
        "train", "encoder", str(table), "-o", str(out),
        "--max-steps", "2", "--batch-size", "8", "--max-tokens", "32", "--held-out", "0.25",
    )  # fmt: skip
    assert code == 0, output
    assert "fine-tuned encoder" in output and "frozen encoder" in output
    card = json.loads((out / CARD_JSON).read_text())
    assert card["training"]["steps"] == 2 and card["evaluation"]["fine_tuned"]["n"] == 4
    assert (out / "modules.json").is_file()  # a sentence-transformers folder

    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "claimcourt.toml").write_text(f'[offline]\nembedding_model = "{out}"\n')
    code, output = invoke("index", str(table), "-w", str(workspace))
    assert code == 0, output
    claims = write_csv(tmp_path / "claims.csv", [{"id": r["id"], "text": r["text"]} for r in silver_rows[100:104]])
    code, output = invoke("run", str(claims), "-o", str(tmp_path / "results.csv"), "-w", str(workspace))
    assert code == 0, output
    results = read_csv(tmp_path / "results.csv")
    assert [r["id"] for r in results] == [r["id"] for r in silver_rows[100:104]]


def test_a_missing_encoder_path_is_refused(tmp_path: Path) -> None:
    table = write_csv(tmp_path / "t.csv", [{"id": "a", "text": "A solar panel.", "label": 1}])
    code, output = invoke("train", "encoder", str(table), "-o", str(tmp_path / "enc"), "--encoder-model", "./nope")
    assert code == 2 and output.count("error:") == 1 and "train.encoder_model" in output, output
    assert not (tmp_path / "enc").exists() and not (tmp_path / "enc.training").exists()
