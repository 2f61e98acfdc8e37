"""Metrics as small registered functions, each with a direction (higher or lower is better).

A metric takes `Scores` (gold labels, the Judge's labels and p_green, aligned) and returns a float;
registering a new one is one decorated function. Label metrics see the claims with a readable
verdict; probability metrics see the claims with a p_green (the two sets differ only for backends
that give a label without a probability).

Conventions follow scikit-learn: the positive class is 1 (green); a ratio whose denominator is 0
(e.g. precision with no green prediction) is 0.0; a metric that is undefined (Cohen's kappa when
chance agreement is 1, any metric over no claims) is NaN.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from claimcourt.eval.calibration import expected_calibration_error

Needs = Literal["labels", "probabilities"]


@dataclass(frozen=True)
class Scores:
    """Aligned arrays. `y_true`/`y_pred` are 0/1 labels; `p_true`/`p_green` are the gold labels and
    probabilities of the claims that have a p_green (a subset of those with a label)."""

    y_true: np.ndarray
    y_pred: np.ndarray
    p_true: np.ndarray
    p_green: np.ndarray

    @classmethod
    def of(
        cls,
        y_true: np.ndarray | list[int],
        y_pred: np.ndarray | list[int],
        p_green: np.ndarray | list[float] | None = None,
    ) -> Scores:
        """Convenience for the common case where every claim has both a label and a p_green."""
        true = np.asarray(y_true, dtype=np.int64)
        pred = np.asarray(y_pred, dtype=np.int64)
        probs = np.asarray(p_green if p_green is not None else [], dtype=np.float64)
        return cls(true, pred, true if p_green is not None else np.zeros(0, dtype=np.int64), probs)


@dataclass(frozen=True)
class Metric:
    name: str
    fn: Callable[[Scores], float]
    higher_is_better: bool
    needs: Needs
    description: str

    def __call__(self, scores: Scores) -> float:
        size = len(scores.y_true) if self.needs == "labels" else len(scores.p_true)
        return self.fn(scores) if size else float("nan")

    @property
    def direction(self) -> str:
        return "higher" if self.higher_is_better else "lower"


METRICS: dict[str, Metric] = {}


def register(
    name: str, *, higher_is_better: bool, needs: Needs = "labels", description: str = ""
) -> Callable[[Callable[[Scores], float]], Callable[[Scores], float]]:
    def add(fn: Callable[[Scores], float]) -> Callable[[Scores], float]:
        if name in METRICS:
            raise ValueError(f"metric '{name}' is registered twice")
        METRICS[name] = Metric(name, fn, higher_is_better, needs, description or (fn.__doc__ or "").strip())
        return fn

    return add


def compute(scores: Scores, names: list[str] | None = None) -> dict[str, float]:
    """Every registered metric (or the named ones); NaN where a metric has no claims to see."""
    chosen = names if names is not None else list(METRICS)
    return {name: METRICS[name](scores) for name in chosen}


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, int]:
    """Counts with green (1) as the positive class."""
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    return {
        "tn": int(np.sum((t == 0) & (p == 0))),
        "fp": int(np.sum((t == 0) & (p == 1))),
        "fn": int(np.sum((t == 1) & (p == 0))),
        "tp": int(np.sum((t == 1) & (p == 1))),
    }


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def _f1_for(y_true: np.ndarray, y_pred: np.ndarray, positive: int) -> float:
    t = y_true == positive
    p = y_pred == positive
    tp = float(np.sum(t & p))
    # F1 = 2TP / (2TP + FP + FN): defined (as 0) even when precision or recall is 0/0.
    return _ratio(2 * tp, 2 * tp + float(np.sum(~t & p)) + float(np.sum(t & ~p)))


@register("accuracy", higher_is_better=True, description="share of claims whose Judge label equals the gold label")
def accuracy(s: Scores) -> float:
    return float(np.mean(s.y_true == s.y_pred))


@register("precision", higher_is_better=True, description="green class: share of green verdicts that are green")
def precision(s: Scores) -> float:
    c = confusion(s.y_true, s.y_pred)
    return _ratio(c["tp"], c["tp"] + c["fp"])


@register("recall", higher_is_better=True, description="green class: share of green claims found")
def recall(s: Scores) -> float:
    c = confusion(s.y_true, s.y_pred)
    return _ratio(c["tp"], c["tp"] + c["fn"])


@register("f1", higher_is_better=True, description="green class: harmonic mean of precision and recall")
def f1(s: Scores) -> float:
    return _f1_for(s.y_true, s.y_pred, 1)


@register("macro_f1", higher_is_better=True, description="mean of the F1 of the green and the not-green class")
def macro_f1(s: Scores) -> float:
    return (_f1_for(s.y_true, s.y_pred, 1) + _f1_for(s.y_true, s.y_pred, 0)) / 2


def cohen_kappa(a: Sequence[int] | np.ndarray, b: Sequence[int] | np.ndarray) -> float | None:
    """Cohen's kappa of two raters' aligned 0/1 labels: (p_o - p_e) / (1 - p_e), agreement beyond chance.
    The project's one kappa (the eval metric, and `claimcourt agreement` between people and the Judge).

    None where it is undefined: no pairs, or both raters gave one label throughout (p_e = 1, where
    chance explains everything and kappa is 0/0). The metric shows that as NaN, as every metric it
    cannot compute; the agreement report as 'n/a'."""
    first, second = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    n = len(first)
    if n == 0:
        return None
    observed = float(np.mean(first == second))
    first_green = float(np.sum(first == 1)) / n
    second_green = float(np.sum(second == 1)) / n
    expected = first_green * second_green + (1 - first_green) * (1 - second_green)
    if expected >= 1.0:
        return None
    return (observed - expected) / (1 - expected)


@register("kappa", higher_is_better=True, description="Cohen's kappa: agreement with gold beyond chance")
def kappa(s: Scores) -> float:
    value = cohen_kappa(s.y_true, s.y_pred)
    return float("nan") if value is None else value


@register(
    "brier",
    higher_is_better=False,
    needs="probabilities",
    description="mean squared difference between p_green and the gold label",
)
def brier(s: Scores) -> float:
    return float(np.mean((s.p_green - s.p_true) ** 2))


@register(
    "ece",
    higher_is_better=False,
    needs="probabilities",
    description="expected calibration error, 10 equal-width bins of the predicted label's confidence",
)
def ece(s: Scores) -> float:
    return expected_calibration_error(s.p_green, s.p_true)
