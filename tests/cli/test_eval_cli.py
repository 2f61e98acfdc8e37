"""`claimcourt eval` from the command line: outputs a user reads, and bad input that exits 2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn import metrics as skm
from typer.testing import CliRunner

from claimcourt.cli.app import app
from tests.eval_support import result, write_gold, write_results

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TOP_LEVEL = ["accuracy", "f1", "macro_f1", "kappa", "brier", "ece", "coverage", "auto_accuracy"]


def _files(tmp_path: Path, n: int = 120, seed: int = 0) -> tuple[Path, Path, dict[str, int], dict[str, float]]:
    rng = np.random.default_rng(seed)
    gold = {f"{i:07d}": int(rng.integers(0, 2)) for i in range(n)}
    p = {k: float(np.clip(0.5 + (y - 0.5) * 0.4 + rng.normal(0, 0.25), 0, 1)) for k, y in gold.items()}
    results = write_results(tmp_path / f"results-{seed}.csv", [result(k, v) for k, v in p.items()])
    return results, write_gold(tmp_path / "gold.csv", gold), gold, p


def assert_valid_png(path: Path) -> None:
    from matplotlib.image import imread
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
    assert imread(path).shape[0] > 100


def test_eval_writes_metrics_report_and_plots(tmp_path: Path) -> None:
    results, gold, labels, p = _files(tmp_path)
    out = tmp_path / "out"
    got = runner.invoke(app, ["eval", str(results), "--gold", str(gold), "--out", str(out)])
    assert got.exit_code == 0, got.output
    assert "accuracy" in got.output and "coverage" in got.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics)[:8] == TOP_LEVEL
    assert all(not isinstance(metrics[k], dict | list) for k in TOP_LEVEL)
    # An independent computation from the files themselves.
    ids = list(labels)
    y = np.array([labels[i] for i in ids])
    probs = np.array([round(p[i], 6) for i in ids])
    pred = (probs >= 0.5).astype(int)
    assert metrics["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-9)
    assert metrics["f1"] == pytest.approx(skm.f1_score(y, pred), abs=1e-9)
    assert metrics["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"), abs=1e-9)
    assert metrics["kappa"] == pytest.approx(skm.cohen_kappa_score(y, pred), abs=1e-9)
    assert metrics["brier"] == pytest.approx(skm.brier_score_loss(y, probs), abs=1e-9)
    confidence = np.maximum(probs, 1 - probs)
    auto = confidence >= 0.7
    assert metrics["coverage"] == pytest.approx(auto.mean())
    assert metrics["auto_accuracy"] == pytest.approx((pred == y)[auto].mean())
    assert metrics["selective"]["threshold"] == 0.7
    assert sum(b["count"] for b in metrics["calibration"]["bins"]) == len(ids)
    report = (out / "report.md").read_text()
    for heading in ("## Classification", "## Calibration", "## Selective prediction"):
        assert heading in report
    for name in ("confusion_matrix.png", "reliability.png", "coverage.png"):
        assert f"]({name})" in report
        assert_valid_png(out / name)


def test_target_accuracy_reports_a_threshold_with_an_interval(tmp_path: Path) -> None:
    results, gold, _, _ = _files(tmp_path, n=400)
    out = tmp_path / "out"
    args = ["eval", str(results), "--gold", str(gold), "--out", str(out)]
    got = runner.invoke(app, [*args, "--target-accuracy", "0.9", "--bootstrap", "200"])
    assert got.exit_code == 0, got.output
    search = json.loads((out / "metrics.json").read_text())["threshold_search"]
    assert search["target_accuracy"] == 0.9
    assert search["auto_accuracy"] >= 0.9
    low, high = search["threshold_ci95"]
    assert low <= high
    assert "Lowest threshold whose auto-decided accuracy reaches 0.90" in (out / "report.md").read_text()


def test_several_results_side_by_side(tmp_path: Path) -> None:
    first, gold, _, _ = _files(tmp_path, seed=0)
    second, _, _, _ = _files(tmp_path, seed=1)
    out = tmp_path / "out"
    got = runner.invoke(app, ["eval", str(first), str(second), "--gold", str(gold), "--out", str(out)])
    assert got.exit_code == 0, got.output
    assert "results-0" in got.output and "results-1" in got.output
    for name in ("results-0", "results-1"):
        assert list(json.loads((out / name / "metrics.json").read_text()))[:8] == TOP_LEVEL
        assert_valid_png(out / name / "confusion_matrix.png")
    comparison = (out / "report.md").read_text()
    assert "| results-0 | results-1 |" in comparison
    assert set(json.loads((out / "comparison.json").read_text())) == {"results-0", "results-1"}
    assert_valid_png(out / "reliability.png")
    assert_valid_png(out / "coverage.png")


def test_partial_match_says_how_many_were_left_out(tmp_path: Path) -> None:
    results = write_results(tmp_path / "r.csv", [result("a", 0.9), result("b", 0.2), result("c", 0.8)])
    gold = write_gold(tmp_path / "g.csv", {"a": 1, "b": 0, "z": 1, "y": 0})
    got = runner.invoke(app, ["eval", str(results), "--gold", str(gold), "--out", str(tmp_path / "o")])
    assert got.exit_code == 0, got.output
    said = " ".join(got.output.split())
    assert "1 results rows have no gold label" in said
    assert "2 gold labels have no results row" in said
    data = json.loads((tmp_path / "o" / "metrics.json").read_text())["data"]
    assert (data["joined"], data["results_not_in_gold"], data["gold_not_in_results"]) == (2, 1, 2)


def test_unreadable_verdicts_are_excluded_from_calibration_not_fatal(tmp_path: Path) -> None:
    results = write_results(tmp_path / "r.csv", [result("a", 0.9), result("b", 0.2), result("c", None)])
    gold = write_gold(tmp_path / "g.csv", {"a": 1, "b": 1, "c": 1})
    got = runner.invoke(app, ["eval", str(results), "--gold", str(gold), "--out", str(tmp_path / "o")])
    assert got.exit_code == 0, got.output
    assert "1 unreadable verdicts excluded from calibration" in " ".join(got.output.split())
    metrics = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert metrics["calibration"]["excluded_unreadable"] == 1 and metrics["calibration"]["n"] == 2
    assert metrics["accuracy"] == 0.5
    assert metrics["coverage"] == pytest.approx(2 / 3)


def _bad(tmp_path: Path, case: str) -> list[str]:
    good_results = write_results(tmp_path / "r.csv", [result("a", 0.9), result("b", 0.2)])
    good_gold = write_gold(tmp_path / "g.csv", {"a": 1, "b": 0})
    results, gold, extra = good_results, good_gold, []
    if case == "no matching ids":
        gold = write_gold(tmp_path / "other.csv", {"x": 1})
    elif case == "label other than 0/1":
        gold = tmp_path / "bad-label.csv"
        gold.write_text("id,label\na,yes\nb,0\n", encoding="utf-8")
    elif case == "missing gold label column":
        gold = tmp_path / "nolabel.csv"
        gold.write_text("id,text\na,x\n", encoding="utf-8")
    elif case == "missing named id column":
        extra = ["--id-col", "patent"]
    elif case == "missing results column":
        results = tmp_path / "notresults.csv"
        results.write_text("id,label\na,1\n", encoding="utf-8")
    elif case == "no verdicts":
        results = write_results(tmp_path / "failed.csv", [{"id": "a", "decided_by": "error", "error": "boom"}])
    elif case == "results file missing":
        results = tmp_path / "nope.csv"
    elif case == "empty gold":
        gold = tmp_path / "empty.csv"
        gold.write_text("", encoding="utf-8")
    elif case == "run id with two files":
        extra = [str(good_results), "--run-id", "r1"]
    elif case == "unknown run id":
        extra = ["--run-id", "never-ran", "--workspace", str(tmp_path / "ws")]
    return ["eval", str(results), "--gold", str(gold), "--out", str(tmp_path / "o"), *extra]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no matching ids", "no id matches the gold file"),
        ("label other than 0/1", "row 1, column 'label': label must be 0 or 1"),
        ("missing gold label column", "no label column found"),
        ("missing named id column", "no id column named 'patent'"),
        ("missing results column", "missing column(s) decided_by"),
        ("no verdicts", "no verdicts"),
        ("results file missing", "file not found"),
        ("empty gold", "the file is empty"),
        ("run id with two files", "--run-id names one run"),
        ("unknown run id", "unknown run id 'never-ran'"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(tmp_path: Path, case: str, message: str) -> None:
    got = runner.invoke(app, _bad(tmp_path, case))
    assert got.exit_code == 2, got.output
    assert message in " ".join(got.output.split())
    assert "Traceback" not in got.output
    assert not (tmp_path / "o" / "metrics.json").exists()
