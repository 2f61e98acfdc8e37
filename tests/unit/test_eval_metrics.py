"""Every registered metric against a hand-computed example and against scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm

from claimcourt.eval.calibration import expected_calibration_error, reliability_bins
from claimcourt.eval.metrics import METRICS, Scores, compute, confusion, register

# Ten claims, worked by hand: tp 4, fn 1, fp 2, tn 3.
Y_TRUE = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]
Y_PRED = [1, 1, 0, 1, 0, 1, 0, 0, 1, 1]
P_GREEN = [0.9, 0.8, 0.4, 0.6, 0.2, 0.7, 0.1, 0.3, 0.55, 0.95]

HAND = {
    "accuracy": 7 / 10,
    "precision": 4 / 6,
    "recall": 4 / 5,
    "f1": 8 / 11,  # 2tp / (2tp + fp + fn)
    "macro_f1": (8 / 11 + 6 / 9) / 2,  # not-green F1: 2*3 / (2*3 + 1 + 2)
    "kappa": (0.7 - 0.5) / (1 - 0.5),  # expected agreement 0.5*0.6 + 0.5*0.4
    "brier": 1.505 / 10,
    # bins 5: 0.55 wrong (gap .55, share .1); 6: one of two right at .6 (.1, .2); 7: one of two at .7
    # (.2, .2); 8: both right at .8 (.2, .2); 9: all right at mean .91667 (.08333, .3)
    "ece": 0.055 + 0.02 + 0.04 + 0.04 + 0.025,
}


def test_every_registered_metric_has_a_hand_computed_value() -> None:
    assert set(METRICS) == set(HAND)


@pytest.mark.parametrize("name", sorted(HAND))
def test_metric_matches_the_hand_computed_example(name: str) -> None:
    value = METRICS[name](Scores.of(Y_TRUE, Y_PRED, P_GREEN))
    assert value == pytest.approx(HAND[name], abs=1e-12)


def test_confusion_matrix_by_hand() -> None:
    assert confusion(np.array(Y_TRUE), np.array(Y_PRED)) == {"tn": 3, "fp": 2, "fn": 1, "tp": 4}


SKLEARN = {
    "accuracy": lambda t, y, p: skm.accuracy_score(t, y),
    "precision": lambda t, y, p: skm.precision_score(t, y, zero_division=0),
    "recall": lambda t, y, p: skm.recall_score(t, y, zero_division=0),
    "f1": lambda t, y, p: skm.f1_score(t, y, zero_division=0),
    "macro_f1": lambda t, y, p: skm.f1_score(t, y, average="macro", labels=[0, 1], zero_division=0),
    "kappa": lambda t, y, p: skm.cohen_kappa_score(t, y),
    "brier": lambda t, y, p: skm.brier_score_loss(t, p),
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(SKLEARN))
def test_metric_agrees_with_scikit_learn(name: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, 300)
    p_green = np.clip(0.5 + (y_true - 0.5) * 0.3 + rng.normal(0, 0.25, 300), 0, 1)
    y_pred = (p_green >= 0.5).astype(int)
    ours = METRICS[name](Scores.of(y_true, y_pred, p_green))
    assert ours == pytest.approx(SKLEARN[name](y_true, y_pred, p_green), abs=1e-12)


def test_degenerate_cases_follow_scikit_learn_conventions() -> None:
    never_green = Scores.of([1, 0, 1], [0, 0, 0], [0.1, 0.2, 0.3])
    assert METRICS["precision"](never_green) == 0.0 == skm.precision_score([1, 0, 1], [0, 0, 0], zero_division=0)
    assert METRICS["f1"](never_green) == 0.0
    constant = Scores.of([1, 1], [1, 1], [0.9, 0.9])
    assert math.isnan(METRICS["kappa"](constant))  # chance agreement is 1: undefined, not a number made up


def _ece_by_loop(p_green: list[float], y_true: list[int]) -> float:
    """The issue's definition, written plainly: an independent check of the vectorised one."""
    bins: dict[int, list[tuple[float, int]]] = {}
    for p, y in zip(p_green, y_true, strict=True):
        c = max(p, 1 - p)
        pred = 1 if p >= 0.5 else 0
        bins.setdefault(min(math.floor(10 * c), 9), []).append((c, int(pred == y)))
    total = len(p_green)
    return sum(
        len(v) / total * abs(sum(h for _, h in v) / len(v) - sum(c for c, _ in v) / len(v)) for v in bins.values()
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_ece_agrees_with_a_plain_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.random(500).round(6).tolist()
    y = rng.integers(0, 2, 500).tolist()
    assert expected_calibration_error(np.array(p), np.array(y)) == pytest.approx(_ece_by_loop(p, y), abs=1e-12)


def test_ece_is_zero_when_perfectly_calibrated() -> None:
    # 10 claims at p 0.8 with 8 green (confidence 0.8, right 8 times); 10 at p 0.3 with 3 green
    # (predicted not green at confidence 0.7, right 7 times).
    p = [0.8] * 10 + [0.3] * 10
    y = [1] * 8 + [0] * 2 + [1] * 3 + [0] * 7
    assert expected_calibration_error(np.array(p), np.array(y)) == pytest.approx(0.0, abs=1e-12)


def test_ece_of_an_overconfident_judge() -> None:
    # Always 99% sure, right half the time: ECE = |0.5 - 0.99|.
    p = [0.99] * 10 + [0.01] * 10
    y = [1] * 5 + [0] * 5 + [0] * 5 + [1] * 5
    assert expected_calibration_error(np.array(p), np.array(y)) == pytest.approx(0.49, abs=1e-12)


def test_certain_verdicts_fall_in_the_top_bin() -> None:
    bins = reliability_bins(np.array([1.0, 0.0, 0.5]), np.array([1, 0, 0]))
    assert bins[9].count == 2 and bins[9].accuracy == 1.0
    # p = 0.5 predicts green (as the Judge does) with confidence 0.5: bin 5, wrong here.
    assert bins[5].count == 1 and bins[5].accuracy == 0.0
    assert sum(b.count for b in bins) == 3


def test_a_new_metric_is_one_registered_function() -> None:
    @register("test_error_rate", higher_is_better=False)
    def error_rate(s: Scores) -> float:
        """share of wrong labels"""
        return float(np.mean(s.y_true != s.y_pred))

    try:
        result = compute(Scores.of(Y_TRUE, Y_PRED, P_GREEN))
        assert result["test_error_rate"] == pytest.approx(0.3)
        assert METRICS["test_error_rate"].direction == "lower"
        assert METRICS["test_error_rate"].description == "share of wrong labels"
    finally:
        del METRICS["test_error_rate"]
