"""Calibration: is a 0.8 confidence right 80% of the time?

The confidence of a verdict is that of the label it predicts: c = max(p, 1 - p), with the predicted
label 1 when p >= 0.5 (as `Verdict.from_p_green`). Claims fall in `n_bins` equal-width bins on [0, 1]
by bin = min(floor(n_bins * c), n_bins - 1); the expected calibration error is the sum over bins of
(bin share) * |accuracy in the bin - mean confidence in the bin|. With c >= 0.5 the lower five of ten
bins stay empty; they are kept so that the binning is the documented one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_BINS = 10


@dataclass(frozen=True)
class ReliabilityBin:
    lower: float
    upper: float
    count: int
    share: float
    mean_confidence: float | None
    accuracy: float | None

    @property
    def gap(self) -> float | None:
        if self.accuracy is None or self.mean_confidence is None:
            return None
        return abs(self.accuracy - self.mean_confidence)


def predicted_confidence(p_green: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(predicted label, its confidence) for each p_green."""
    p = np.asarray(p_green, dtype=np.float64)
    return (p >= 0.5).astype(np.int64), np.maximum(p, 1.0 - p)


def bin_index(confidence: np.ndarray, n_bins: int = N_BINS) -> np.ndarray:
    return np.minimum(np.floor(n_bins * np.asarray(confidence, dtype=np.float64)), n_bins - 1).astype(np.int64)


def reliability_bins(p_green: np.ndarray, y_true: np.ndarray, n_bins: int = N_BINS) -> list[ReliabilityBin]:
    predicted, confidence = predicted_confidence(p_green)
    correct = predicted == np.asarray(y_true, dtype=np.int64)
    index = bin_index(confidence, n_bins)
    total = len(confidence)
    bins = []
    for b in range(n_bins):
        inside = index == b
        count = int(inside.sum())
        bins.append(
            ReliabilityBin(
                lower=b / n_bins,
                upper=(b + 1) / n_bins,
                count=count,
                share=count / total if total else 0.0,
                mean_confidence=float(confidence[inside].mean()) if count else None,
                accuracy=float(correct[inside].mean()) if count else None,
            )
        )
    return bins


def expected_calibration_error(p_green: np.ndarray, y_true: np.ndarray, n_bins: int = N_BINS) -> float:
    if len(p_green) == 0:
        return float("nan")
    return float(sum(b.share * (b.gap or 0.0) for b in reliability_bins(p_green, y_true, n_bins) if b.count))
