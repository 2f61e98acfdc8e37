"""Selective prediction: the Judge decides when confident, a person decides the rest.

- At the run's threshold the routing is read from `decided_by` (what really happened): coverage is the
  share of finished claims decided by the Judge; a claim whose verdict could not be read went to a
  person, so it counts against coverage.
- The accuracy-coverage curve recomputes the routing from the confidence for every candidate
  threshold t (the Judge decides when confidence >= t, as `nodes.routing.choose_route`).
- The threshold search finds the lowest t whose auto-decided accuracy reaches a target, and a
  bootstrap (Poisson weights, resampling claims) says how sure that is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from claimcourt.eval.data import EvalSet
from claimcourt.vocab import SENT_TO_A_PERSON, ClaimStatus

# Beyond this many distinct confidences the candidates are a 1e-4 grid: finer thresholds mean nothing.
MAX_CANDIDATES = 10_000
# Below this many auto-decided claims at the found threshold the gold set cannot vouch for it.
MIN_AUTO_FOR_TRUST = 30
MAX_CI_WIDTH = 0.10
MAX_SHARE_WITHOUT = 0.10
_EPS = 1e-12


def _share(num: int, den: int) -> float | None:
    return num / den if den else None


@dataclass(frozen=True)
class SelectiveReport:
    threshold: float | None
    threshold_source: str
    finished: int
    judge: int
    pending_review: int
    human: int
    coverage: float | None
    auto_n: int
    auto_accuracy: float | None
    routed_n: int
    routed_accuracy: float | None
    final_n: int
    final_accuracy: float | None


def selective_at_run(es: EvalSet, *, threshold: float | None, threshold_source: str) -> SelectiveReport:
    finished = es.finished
    correct = es.has_label & (es.judge_label == es.gold)
    auto = es.decided_by == ClaimStatus.JUDGE
    routed = np.isin(es.decided_by, sorted(SENT_TO_A_PERSON)) & es.has_label
    human = int(np.sum(es.decided_by == ClaimStatus.HUMAN))
    # Final labels exist for the Judge's claims and the ones a person decided; pending ones have none.
    with_final = finished & (es.final_label >= 0)
    final_correct = int(np.sum(with_final & (es.final_label == es.gold)))
    return SelectiveReport(
        threshold=threshold,
        threshold_source=threshold_source,
        finished=int(finished.sum()),
        judge=int(auto.sum()),
        pending_review=int(np.sum(es.decided_by == ClaimStatus.PENDING_REVIEW)),
        human=human,
        coverage=_share(int(auto.sum()), int(finished.sum())),
        auto_n=int(auto.sum()),
        auto_accuracy=_share(int(np.sum(auto & correct)), int(auto.sum())),
        routed_n=int(routed.sum()),
        routed_accuracy=_share(int(np.sum(routed & correct)), int(routed.sum())),
        final_n=int(with_final.sum()) if human else 0,
        final_accuracy=_share(final_correct, int(with_final.sum())) if human else None,
    )


# -- the curve ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CurvePoint:
    threshold: float
    coverage: float
    auto_accuracy: float | None
    n_auto: int


@dataclass(frozen=True)
class Curve:
    """Auto-decided counts for each candidate threshold (ascending). `total` is the denominator of
    coverage: every finished claim, readable or not."""

    candidates: np.ndarray
    group_n: np.ndarray
    group_correct: np.ndarray
    total: int

    @property
    def auto_n(self) -> np.ndarray:
        return np.asarray(np.cumsum(self.group_n[::-1])[::-1])

    @property
    def auto_correct(self) -> np.ndarray:
        return np.asarray(np.cumsum(self.group_correct[::-1])[::-1])

    def points(self) -> list[CurvePoint]:
        n, c = self.auto_n, self.auto_correct
        return [
            CurvePoint(
                threshold=float(t),
                coverage=float(n[j]) / self.total if self.total else 0.0,
                auto_accuracy=float(c[j]) / float(n[j]) if n[j] else None,
                n_auto=int(n[j]),
            )
            for j, t in enumerate(self.candidates)
        ]

    def at(self, threshold: float) -> CurvePoint:
        """The routing a run with this threshold would make."""
        j = int(np.searchsorted(self.candidates, threshold, side="left"))
        if j >= len(self.candidates):
            return CurvePoint(threshold, 0.0, None, 0)
        n, c = int(self.auto_n[j]), int(self.auto_correct[j])
        return CurvePoint(threshold, n / self.total if self.total else 0.0, c / n if n else None, n)


def _candidates(confidence: np.ndarray) -> np.ndarray:
    distinct = np.unique(confidence)
    if len(distinct) <= MAX_CANDIDATES:
        return distinct
    # A row is auto-decided at a grid threshold g exactly when floor(c, 1e-4) >= g, so grouping rows by
    # their floored confidence keeps every grid threshold exact.
    return np.unique(np.floor(confidence * 1e4) / 1e4)


def coverage_curve(confidence: np.ndarray, correct: np.ndarray, *, total: int) -> Curve:
    """`confidence` NaN for claims without a readable verdict (never auto-decided); `correct` whether
    the Judge's label equals gold; `total` the number of finished claims."""
    conf = np.asarray(confidence, dtype=np.float64)
    readable = ~np.isnan(conf)
    conf = conf[readable]
    right = np.asarray(correct, dtype=bool)[readable]
    candidates = _candidates(conf)
    group = np.searchsorted(candidates, conf, side="right") - 1
    k = len(candidates)
    return Curve(
        candidates=candidates,
        group_n=np.bincount(group, minlength=k).astype(np.int64),
        group_correct=np.bincount(group, weights=right.astype(np.float64), minlength=k).astype(np.int64),
        total=total,
    )


def curve_of(es: EvalSet) -> Curve:
    finished = es.finished
    confidence = np.where(es.has_label, es.confidence, np.nan)[finished]
    correct = (es.has_label & (es.judge_label == es.gold))[finished]
    return coverage_curve(confidence, correct, total=int(finished.sum()))


def curve_grid(curve: Curve, step: float = 0.01) -> list[CurvePoint]:
    """The curve at round thresholds (0.50, 0.51, ... 1.00), for reports and JSON."""
    lowest = float(np.floor(curve.candidates.min() / step) * step) if len(curve.candidates) else 0.5
    lowest = min(lowest, 0.5)
    grid = np.round(np.arange(lowest, 1.0 + step / 2, step), 10)
    return [curve.at(float(t)) for t in grid]


# -- the threshold search -------------------------------------------------------------------------
@dataclass(frozen=True)
class ThresholdSearch:
    target: float
    threshold: float | None
    coverage: float | None
    auto_accuracy: float | None
    n_auto: int
    threshold_ci: tuple[float, float] | None
    accuracy_ci: tuple[float, float] | None
    coverage_ci: tuple[float, float] | None
    resamples: int
    resamples_without: int
    warnings: list[str] = field(default_factory=list)


def _lowest_reaching(auto_n: np.ndarray, auto_correct: np.ndarray, target: float) -> np.ndarray:
    """Per row of (resamples x candidates) counts: index of the lowest candidate whose accuracy
    reaches the target, or -1."""
    ok = (auto_n > 0) & (auto_correct >= target * auto_n - _EPS)
    first = np.argmax(ok, axis=-1)
    return np.where(ok.any(axis=-1), first, -1)


def search_threshold(
    curve: Curve, target: float, *, resamples: int = 1000, seed: int = 0, confidence_level: float = 0.95
) -> ThresholdSearch:
    auto_n, auto_correct = curve.auto_n, curve.auto_correct
    found = int(_lowest_reaching(auto_n, auto_correct, target))
    alpha = (1 - confidence_level) / 2
    quantiles = (100 * alpha, 100 * (1 - alpha))
    warnings: list[str] = []
    if found < 0:
        return ThresholdSearch(target, None, None, None, 0, None, None, None, 0, 0, warnings)

    thresholds: list[float] = []
    accuracies: list[float] = []
    coverages: list[float] = []
    without = 0
    rng = np.random.default_rng(seed)
    wrong = curve.group_n - curve.group_correct
    block = max(1, min(resamples, 2_000_000 // max(1, len(curve.candidates))))
    done = 0
    while done < resamples:
        size = min(block, resamples - done)
        # Poisson bootstrap: each claim drawn Poisson(1) times, so a group's correct and wrong counts are
        # independent Poisson draws; no per-claim work, and exact for this resampling scheme.
        right_w = rng.poisson(curve.group_correct, size=(size, len(curve.candidates)))
        wrong_w = rng.poisson(wrong, size=(size, len(curve.candidates)))
        n_b = np.cumsum((right_w + wrong_w)[:, ::-1], axis=1)[:, ::-1]
        c_b = np.cumsum(right_w[:, ::-1], axis=1)[:, ::-1]
        lowest = _lowest_reaching(n_b, c_b, target)
        without += int(np.sum(lowest < 0))
        total_b = n_b[:, 0] + (curve.total - int(auto_n[0]))  # unreadable claims are never auto-decided
        thresholds.extend(float(curve.candidates[j]) for j in lowest if j >= 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            acc = c_b[:, found] / n_b[:, found]
            cov = n_b[:, found] / np.maximum(total_b, 1)
        accuracies.extend(acc[n_b[:, found] > 0].tolist())
        coverages.extend(cov.tolist())
        done += size

    def interval(values: list[float]) -> tuple[float, float] | None:
        if not values:
            return None
        low, high = np.percentile(values, quantiles)
        return float(low), float(high)

    n_found = int(auto_n[found])
    threshold_ci = interval(thresholds)
    if n_found < MIN_AUTO_FOR_TRUST:
        warnings.append(
            f"only {n_found} gold claims are auto-decided at this threshold (fewer than {MIN_AUTO_FOR_TRUST}): "
            "the gold set is too small to say whether it holds"
        )
    if resamples and without / resamples > MAX_SHARE_WITHOUT:
        warnings.append(
            f"in {without / resamples:.0%} of bootstrap resamples no threshold reaches {target:.2f}: "
            "the gold set is too small to say"
        )
    if threshold_ci is not None and threshold_ci[1] - threshold_ci[0] > MAX_CI_WIDTH:
        warnings.append(
            f"the threshold's {confidence_level:.0%} interval spans {threshold_ci[0]:.3f} to {threshold_ci[1]:.3f}: "
            "more gold labels would narrow it"
        )
    return ThresholdSearch(
        target=target,
        threshold=float(curve.candidates[found]),
        coverage=n_found / curve.total if curve.total else None,
        auto_accuracy=float(auto_correct[found]) / n_found,
        n_auto=n_found,
        threshold_ci=threshold_ci,
        accuracy_ci=interval(accuracies),
        coverage_ci=interval(coverages),
        resamples=resamples,
        resamples_without=without,
        warnings=warnings,
    )
