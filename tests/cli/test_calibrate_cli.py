"""`claimcourt calibrate` and `run --threshold calibrated[:NAME]` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binomtest
from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.config import Settings
from claimcourt.jobs.run_settings import recorded_settings
from tests.conftest import flat, read_csv
from tests.eval_support import result, write_gold, write_results
from tests.review_support import store_at

runner = CliRunner()


def _files(tmp_path: Path, n: int = 300, seed: int = 4) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """A Judge whose confidence c is uniform on [0.5, 1) and who is right with probability 2c - 0.9."""
    rng = np.random.default_rng(seed)
    conf = np.round(rng.uniform(0.5, 1.0, size=n), 6)
    right = rng.uniform(size=n) < np.minimum(1.0, 2 * conf - 0.9)
    gold = {f"{i:07d}": int(rng.integers(0, 2)) for i in range(n)}
    rows = []
    for (claim_id, y), c, ok in zip(gold.items(), conf, right, strict=True):
        label = y if ok else 1 - y
        rows.append(result(claim_id, float(c) if label else float(1 - c)))
    return write_results(tmp_path / "results.csv", rows), write_gold(tmp_path / "gold.csv", gold), conf, right


def _reference_threshold(conf: np.ndarray, agrees: np.ndarray, alpha: float, delta: float, min_n: int) -> float | None:
    """The same rule written plainly on scipy's binomtest: the one-sided lower bound on agreement at
    level delta is the lower end of the two-sided exact interval at 1 - 2 delta."""
    chosen = None
    for t in sorted(set(conf.tolist()), reverse=True):
        at = conf >= t
        if at.sum() < min_n:
            continue
        low = binomtest(int(agrees[at].sum()), int(at.sum())).proportion_ci(1 - 2 * delta, method="exact").low
        if 1 - low > alpha:
            break
        chosen = t
    return chosen


def test_calibrate_from_results_and_gold_prints_one_json_object_and_saves_it(tmp_path: Path) -> None:
    results, gold, conf, right = _files(tmp_path)
    ws = tmp_path / "ws"
    got = runner.invoke(
        app,
        ["calibrate", "--results", str(results), "--gold", str(gold), "--json", "--name", "first", "-w", str(ws)],
    )
    assert got.exit_code == 0, got.output
    payload = json.loads(got.output)
    assert {"threshold", "alpha", "delta", "n", "coverage", "agreement", "agreement_bound"} <= set(payload)
    expected = _reference_threshold(conf, right, 0.10, 0.10, 30)
    assert expected is not None and payload["threshold"] == pytest.approx(expected)
    at = conf >= expected
    assert payload["n"] == int(at.sum()) and payload["coverage"] == pytest.approx(at.mean())
    assert payload["agreement"] == pytest.approx(right[at].mean())
    assert payload["agreement_bound"] <= payload["agreement"] and payload["agreement_bound"] >= 0.9
    assert (ws / "calibrations" / "first.json").exists()


def test_calibrate_says_in_a_sentence_what_the_threshold_gives(tmp_path: Path) -> None:
    results, gold, _, _ = _files(tmp_path)
    got = runner.invoke(
        app, ["calibrate", "--results", str(results), "--gold", str(gold), "--no-save", "-w", str(tmp_path / "ws")]
    )
    assert got.exit_code == 0, got.output
    assert "Auto-decided labels agree with people at least 90% of the time, with 90% confidence" in flat(got.output)
    assert not (tmp_path / "ws" / "calibrations").exists()


def test_no_qualifying_threshold_says_everything_goes_to_a_person(tmp_path: Path) -> None:
    results, gold, _, _ = _files(tmp_path, n=20)
    got = runner.invoke(
        app, ["calibrate", "--results", str(results), "--gold", str(gold), "--json", "-w", str(tmp_path / "ws")]
    )
    assert got.exit_code == 0, got.output
    payload = json.loads(got.output)
    assert payload["threshold"] is None and payload["agreement_bound"] is None and payload["needed_more"] >= 10
    plain = runner.invoke(
        app, ["calibrate", "--results", str(results), "--gold", str(gold), "--no-save", "-w", str(tmp_path / "ws")]
    )
    assert "every claim must go to a person" in flat(plain.output)
    assert "more audited claims" in flat(plain.output)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give --run-id RUN"),
        (["--results", "r.csv"], "--results and --gold go together"),
        (["--run-id", "x", "--results", "r.csv", "--gold", "g.csv"], "not both"),
        (["--run-id", "nope"], "has no runs"),
        (["--results", "missing.csv", "--gold", "missing.csv"], "file not found"),
        (["--results", "r.csv", "--gold", "g.csv", "--name", "bad name!"], "calibration name"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    got = runner.invoke(app, ["calibrate", *args, "-w", str(tmp_path / "ws")])
    assert got.exit_code == 2, got.output
    assert message in flat(got.output) and "Traceback" not in got.output


def test_run_uses_the_latest_or_a_named_calibration_and_records_which(
    indexed_settings: Settings, silver_batch_csv: Path, tmp_path: Path
) -> None:
    ws = indexed_settings.workspace
    results, gold, _, _ = _files(tmp_path)
    for name in ("older", "newer"):
        got = runner.invoke(
            app, ["calibrate", "--results", str(results), "--gold", str(gold), "--name", name, "-w", str(ws)]
        )
        assert got.exit_code == 0, got.output
    saved = json.loads((ws / "calibrations" / "newer.json").read_text())["result"]["threshold"]
    for run_id, reference, name in (("c1", "calibrated", "newer"), ("c2", "calibrated:older", "older")):
        got = runner.invoke(
            app,
            ["run", str(silver_batch_csv), "--run-id", run_id, "--threshold", reference, "--limit", "6", "-w", str(ws)],
        )
        assert got.exit_code == 0, got.output
        with store_at(ws) as store:
            run = store.ledger.run(run_id)
        assert run.threshold == pytest.approx(saved)
        assert recorded_settings(run)["calibration"] == name
        for row in read_csv(ws / "runs" / run_id / "results.csv"):
            assert (row["decided_by"] == "judge") == (float(row["confidence"]) >= saved)
    got = runner.invoke(app, ["run", str(silver_batch_csv), "--threshold", "calibrated:nope", "-w", str(ws)])
    assert got.exit_code == 2 and "no such calibration" in flat(got.output)


def test_eval_reports_the_threshold_calibrate_would_choose_next_to_the_fixed_one(tmp_path: Path) -> None:
    results, gold, conf, right = _files(tmp_path)
    out = tmp_path / "out"
    got = runner.invoke(app, ["eval", str(results), "--gold", str(gold), "--out", str(out), "-w", str(tmp_path / "w")])
    assert got.exit_code == 0, got.output
    assert "calibrated threshold" in got.output
    calibrated = json.loads((out / "metrics.json").read_text())["calibrated_threshold"]
    expected = _reference_threshold(conf, right, 0.10, 0.10, 30)
    assert expected is not None and calibrated["threshold"] == pytest.approx(expected)
    assert calibrated["coverage"] == pytest.approx((conf >= expected).mean())
    assert calibrated["auto_accuracy"] == pytest.approx(right[conf >= expected].mean())
    report = (out / "report.md").read_text()
    assert "## Calibrated threshold" in report and f"calibrated ({expected:.4f})" in report


def test_eval_infers_the_run_threshold_past_the_audit_claims_above_it(tmp_path: Path) -> None:
    p = {f"{i:03d}": v for i, v in enumerate([0.95, 0.9, 0.8, 0.75, 0.6, 0.4, 0.3, 0.1, 0.97, 0.92])}
    rows = [result(k, v) for k, v in list(p.items())[:8]]
    # Two audits: sure enough to be decided alone, sent to a person by the audit draw.
    rows += [{**result(k, v, decided_by="pending_review"), "audit": "true"} for k, v in list(p.items())[8:]]
    results = write_results(tmp_path / "results.csv", rows)
    gold = write_gold(tmp_path / "gold.csv", {k: int(v >= 0.5) for k, v in p.items()})
    out = tmp_path / "out"
    got = runner.invoke(app, ["eval", str(results), "--gold", str(gold), "--out", str(out), "-w", str(tmp_path / "w")])
    assert got.exit_code == 0, got.output
    selective = json.loads((out / "metrics.json").read_text())["selective"]
    assert selective["threshold"] == pytest.approx(0.70)
    assert selective["threshold_source"].startswith("inferred: the configured threshold")
