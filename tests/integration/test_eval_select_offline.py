"""`run` -> `eval` -> `select` through the real offline Judge (MiniLM, Chroma, SQLite) on real claims."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm
from typer.testing import CliRunner

from claimcourt.config import Settings
from tests.conftest import read_csv, write_csv

runner = CliRunner()


def test_run_then_eval_then_select(
    indexed_settings: Settings, silver_batch_csv: Path, silver_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    from claimcourt.cli.app import app

    ws = str(indexed_settings.workspace)
    ran = runner.invoke(app, ["run", str(silver_batch_csv), "--run-id", "r1", "--workspace", ws])
    assert ran.exit_code == 0, ran.output
    results_path = indexed_settings.workspace / "runs" / "r1" / "results.csv"
    labels = {r["id"]: r["label"] for r in silver_rows}
    batch_ids = [r["id"] for r in read_csv(silver_batch_csv)]
    gold = write_csv(tmp_path / "gold.csv", [{"id": i, "label": labels[i]} for i in batch_ids])

    # A copy outside the workspace is still matched to its run by its claims.
    moved = tmp_path / "moved.csv"
    moved.write_bytes(results_path.read_bytes())
    for path in (results_path, moved):
        out = tmp_path / f"eval-{path.stem}"
        got = runner.invoke(app, ["eval", str(path), "--gold", str(gold), "--out", str(out), "--workspace", ws])
        assert got.exit_code == 0, got.output
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["selective"]["run_id"] == "r1"
        assert metrics["selective"]["threshold_source"].startswith("run ledger")

    rows = read_csv(results_path)
    y = np.array([int(labels[r["id"]]) for r in rows])
    pred = np.array([int(r["judge_label"]) for r in rows])
    p = np.array([float(r["p_green"]) for r in rows])
    assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-9)
    assert metrics["kappa"] == pytest.approx(skm.cohen_kappa_score(y, pred), abs=1e-9)
    assert metrics["brier"] == pytest.approx(skm.brier_score_loss(y, p), abs=1e-9)
    assert metrics["coverage"] == pytest.approx(np.mean([r["decided_by"] == "judge" for r in rows]))

    # select scores the same claims with the same p_green as the Judge gave them in the run.
    hard = tmp_path / "hard.csv"
    picked = runner.invoke(app, ["select", str(silver_batch_csv), "--n", "5", "-o", str(hard), "--workspace", ws])
    assert picked.exit_code == 0, picked.output
    chosen = read_csv(hard)
    judge_p = {r["id"]: float(r["p_green"]) for r in rows}
    assert len(chosen) == 5
    for row in chosen:
        assert float(row["p_green"]) == pytest.approx(judge_p[row["id"]], abs=1e-5)
        assert float(row["u"]) == pytest.approx(1 - 2 * abs(float(row["p_green"]) - 0.5), abs=1e-5)
    most_uncertain = sorted(judge_p, key=lambda i: abs(judge_p[i] - 0.5))[:5]
    assert {r["id"] for r in chosen} == set(most_uncertain)
