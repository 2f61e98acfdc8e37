"""Selective prediction, the accuracy-coverage curve, the threshold search and reading results."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from claimcourt.errors import InputError
from claimcourt.eval.data import load_eval_set, read_gold
from claimcourt.eval.runinfo import infer_threshold
from claimcourt.eval.selective import coverage_curve, curve_of, search_threshold, selective_at_run
from tests.eval_support import result, write_gold, write_results

# Ten verdicts, most confident first, right (True) or wrong. Auto-decided accuracy from the top:
# .95 1/1, .90 2/2, .85 3/3, .80 3/4, .75 4/5, .70 5/6, .65 5/7, .60 5/8, .55 6/9, .50 6/10.
CONFIDENCE = np.array([0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5])
CORRECT = np.array([True, True, True, False, True, True, False, False, True, False])


def test_curve_recomputes_routing_for_every_threshold() -> None:
    curve = coverage_curve(CONFIDENCE, CORRECT, total=10)
    points = {round(p.threshold, 2): p for p in curve.points()}
    assert points[0.7].n_auto == 6 and points[0.7].coverage == pytest.approx(0.6)
    assert points[0.7].auto_accuracy == pytest.approx(5 / 6)
    assert points[0.5].coverage == 1.0 and points[0.5].auto_accuracy == pytest.approx(0.6)
    # Between candidates the routing is that of the next confidence up (confidence >= threshold).
    assert curve.at(0.72).n_auto == 5
    assert curve.at(0.99).n_auto == 0 and curve.at(0.99).auto_accuracy is None


@pytest.mark.parametrize(
    ("target", "threshold", "coverage"),
    [(0.8, 0.7, 0.6), (0.84, 0.85, 0.3), (0.9, 0.85, 0.3), (0.6, 0.5, 1.0), (1.0, 0.85, 0.3)],
)
def test_threshold_search_finds_the_lowest_threshold_reaching_the_target(
    target: float, threshold: float, coverage: float
) -> None:
    found = search_threshold(coverage_curve(CONFIDENCE, CORRECT, total=10), target, resamples=200)
    assert found.threshold == pytest.approx(threshold)
    assert found.coverage == pytest.approx(coverage)
    assert found.auto_accuracy is not None and found.auto_accuracy >= target


def test_threshold_search_says_when_no_threshold_reaches_the_target() -> None:
    wrong_at_top = coverage_curve(np.array([0.9, 0.8]), np.array([False, True]), total=2)
    assert search_threshold(wrong_at_top, 0.9).threshold is None


def test_small_gold_set_gets_a_warning() -> None:
    found = search_threshold(coverage_curve(CONFIDENCE, CORRECT, total=10), 0.8, resamples=500)
    assert found.warnings and any("too small" in w for w in found.warnings)
    assert found.threshold_ci is not None and found.threshold_ci[0] <= found.threshold_ci[1]


def test_large_calibrated_set_gives_a_tight_interval_around_the_estimate() -> None:
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0.5, 1.0, 20_000).round(3)
    correct = rng.random(20_000) < confidence  # calibrated: right with probability = confidence
    found = search_threshold(coverage_curve(confidence, correct, total=20_000), 0.9, resamples=300, seed=1)
    assert found.threshold is not None and found.threshold_ci is not None
    # Auto-decided accuracy at t is about (1 + t) / 2, so the target 0.9 needs t near 0.8.
    assert found.threshold == pytest.approx(0.8, abs=0.03)
    assert found.threshold_ci[0] <= found.threshold <= found.threshold_ci[1]
    assert found.threshold_ci[1] - found.threshold_ci[0] < 0.1
    assert found.warnings == []


def test_bootstrap_is_reproducible_with_a_seed() -> None:
    curve = coverage_curve(CONFIDENCE, CORRECT, total=10)
    a = search_threshold(curve, 0.8, resamples=300, seed=7)
    b = search_threshold(curve, 0.8, resamples=300, seed=7)
    assert a.threshold_ci == b.threshold_ci and a.accuracy_ci == b.accuracy_ci


def _eval_set(tmp_path: Path, rows: list[dict[str, object]], gold: dict[str, int]):  # type: ignore[no-untyped-def]
    return load_eval_set(write_results(tmp_path / "results.csv", rows), read_gold(write_gold(tmp_path / "g.csv", gold)))


def test_selective_prediction_at_the_run_threshold(tmp_path: Path) -> None:
    rows = [
        result("a", 0.9),  # judge, right
        result("b", 0.85),  # judge, wrong
        result("c", 0.1),  # judge, right
        result("d", 0.6),  # pending, Judge right
        result("e", 0.4, human=1),  # human says green (right); the Judge said not green (wrong)
        result("f", None),  # unreadable, waits for a person
        result("g", 0.55, human=0),  # human right, Judge wrong
    ]
    gold = {"a": 1, "b": 0, "c": 0, "d": 1, "e": 1, "f": 1, "g": 0}
    es = _eval_set(tmp_path, rows, gold)
    report = selective_at_run(es, threshold=0.7, threshold_source="test")
    assert report.coverage == pytest.approx(3 / 7)  # the unreadable one counts against coverage
    assert report.auto_accuracy == pytest.approx(2 / 3)
    assert report.routed_n == 3 and report.routed_accuracy == pytest.approx(1 / 3)
    # Final labels: a, b, c by the Judge, e, g by people: 4 of 5 right.
    assert report.final_n == 5 and report.final_accuracy == pytest.approx(4 / 5)
    assert es.unreadable == 1
    # At the run's threshold the recomputed curve agrees with what the run did.
    at_run = curve_of(es).at(0.7)
    assert at_run.coverage == pytest.approx(report.coverage)
    assert at_run.auto_accuracy == pytest.approx(report.auto_accuracy)


def test_no_final_accuracy_without_human_decisions(tmp_path: Path) -> None:
    es = _eval_set(tmp_path, [result("a", 0.9), result("b", 0.6)], {"a": 1, "b": 0})
    assert selective_at_run(es, threshold=0.7, threshold_source="t").final_accuracy is None


def test_ids_stay_strings(tmp_path: Path) -> None:
    es = _eval_set(tmp_path, [result("007", 0.9), result("7", 0.1)], {"007": 1, "7": 1})
    assert es.ids == ["007", "7"]
    assert es.gold.tolist() == [1, 1]


def test_partial_join_is_counted(tmp_path: Path) -> None:
    es = _eval_set(tmp_path, [result("a", 0.9), result("b", 0.1), result("x", 0.3)], {"a": 1, "b": 0, "z": 1})
    assert es.n == 2 and es.results_not_in_gold == 1 and es.not_in_results == 1


@pytest.mark.parametrize(
    ("rows", "gold", "message"),
    [
        ([result("a", 0.9)], {"b": 1}, "no id matches"),
        ([result("1", 0.9)], {"0001": 1}, "leading zeros"),
        ([{"id": "a", "decided_by": "error", "error": "boom"}], {"a": 1}, "no verdicts"),
        ([result("a", None)], {"a": 1}, "no verdicts"),
        ([result("a", 0.9), result("a", 0.8)], {"a": 1}, "duplicate id"),
        ([{**result("a", 0.9), "p_green": "1.7"}], {"a": 1}, "column 'p_green'"),
        ([{**result("a", 0.9), "decided_by": "robot"}], {"a": 1}, "decided_by must be"),
    ],
)
def test_bad_results_are_input_errors(
    tmp_path: Path, rows: list[dict[str, object]], gold: dict[str, int], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        _eval_set(tmp_path, rows, gold)


def test_gold_with_a_bad_label_names_the_row(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("id,label\na,1\nb,2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 2, column 'label'.*0 or 1"):
        read_gold(path)


def test_infer_threshold_prefers_the_configured_one_when_it_explains_the_routing(tmp_path: Path) -> None:
    es = _eval_set(tmp_path, [result("a", 0.9), result("b", 0.6)], {"a": 1, "b": 0})
    assert infer_threshold(es, 0.7).value == 0.7
    # A configured 0.95 cannot explain a claim decided at 0.9: the lowest auto confidence is taken.
    assert infer_threshold(es, 0.95).value == pytest.approx(0.9)
