"""One evaluation of one results file against gold: every number the report, the JSON and the plots
show, computed once here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from claimcourt.eval.calibration import N_BINS, ReliabilityBin, reliability_bins
from claimcourt.eval.calibration_set import from_gold
from claimcourt.eval.data import EvalSet
from claimcourt.eval.guarantee import GuaranteedThreshold, choose_threshold
from claimcourt.eval.metrics import METRICS, Scores, compute, confusion
from claimcourt.eval.runinfo import RunThreshold
from claimcourt.eval.selective import (
    Curve,
    CurvePoint,
    SelectiveReport,
    ThresholdSearch,
    curve_grid,
    curve_of,
    search_threshold,
    selective_at_run,
)

# metrics.json's top level, in this order; everything else is nested below.
HEADLINE = ("accuracy", "f1", "macro_f1", "kappa", "brier", "ece", "coverage", "auto_accuracy")


@dataclass(frozen=True)
class Evaluation:
    name: str
    data: EvalSet
    scores: Scores
    metrics: dict[str, float]
    confusion: dict[str, int]
    bins: list[ReliabilityBin]
    selective: SelectiveReport
    curve: Curve
    search: ThresholdSearch | None
    run_threshold: RunThreshold
    label_p_disagreements: int
    # The threshold `claimcourt calibrate --results --gold` would choose, and the routing it gives here.
    calibrated: GuaranteedThreshold
    calibrated_point: CurvePoint | None

    @property
    def n_labelled(self) -> int:
        return len(self.scores.y_true)

    @property
    def n_calibrated(self) -> int:
        return len(self.scores.p_true)


def scores_of(es: EvalSet) -> Scores:
    labelled = es.finished & es.has_label
    with_p = es.finished & es.has_p
    return Scores(
        y_true=es.gold[labelled],
        y_pred=es.judge_label[labelled],
        p_true=es.gold[with_p],
        p_green=es.p_green[with_p],
    )


def evaluate(
    es: EvalSet,
    *,
    name: str,
    threshold: RunThreshold,
    target_accuracy: float | None = None,
    resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.10,
    delta: float = 0.10,
    min_n: int = 30,
) -> Evaluation:
    scores = scores_of(es)
    both = es.finished & es.has_label & es.has_p
    disagreements = int(np.sum(both & (es.judge_label != (es.p_green >= 0.5).astype(np.int64))))
    curve = curve_of(es)
    search = (
        search_threshold(curve, target_accuracy, resamples=resamples, seed=seed)
        if target_accuracy is not None
        else None
    )
    calibrated = choose_threshold(*from_gold(es).arrays(), alpha=alpha, delta=delta, min_n=min_n)
    return Evaluation(
        name=name,
        data=es,
        scores=scores,
        metrics=compute(scores),
        confusion=confusion(scores.y_true, scores.y_pred),
        bins=reliability_bins(scores.p_green, scores.p_true),
        selective=selective_at_run(es, threshold=threshold.value, threshold_source=threshold.source),
        curve=curve,
        search=search,
        run_threshold=threshold,
        label_p_disagreements=disagreements,
        calibrated=calibrated,
        calibrated_point=curve.at(calibrated.threshold) if calibrated.threshold is not None else None,
    )


def _clean(value: Any) -> Any:
    """JSON has no NaN: an undefined number is null."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.floating):
        return _clean(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def to_json(ev: Evaluation) -> dict[str, Any]:
    es, sel = ev.data, ev.selective
    out: dict[str, Any] = {
        "accuracy": ev.metrics["accuracy"],
        "f1": ev.metrics["f1"],
        "macro_f1": ev.metrics["macro_f1"],
        "kappa": ev.metrics["kappa"],
        "brier": ev.metrics["brier"],
        "ece": ev.metrics["ece"],
        "coverage": sel.coverage,
        "auto_accuracy": sel.auto_accuracy,
    }
    out["metrics"] = {
        name: {"value": ev.metrics[name], "higher_is_better": m.higher_is_better, "description": m.description}
        for name, m in METRICS.items()
    }
    out["classification"] = {
        "scope": "the Judge's label (judge_label) of every claim with a readable verdict, against gold",
        "n": ev.n_labelled,
        "precision": ev.metrics["precision"],
        "recall": ev.metrics["recall"],
        "positive_class": 1,
        "confusion_matrix": ev.confusion,
    }
    out["calibration"] = {
        "scope": "p_green of every claim that has one; confidence c = max(p, 1-p) of the label p implies",
        "n": ev.n_calibrated,
        "excluded_unreadable": es.unreadable,
        "n_bins": N_BINS,
        "binning": "bin = min(floor(10 * c), 9); ECE = sum over bins of share * |accuracy - mean confidence|",
        "bins": [
            {
                "lower": b.lower,
                "upper": b.upper,
                "count": b.count,
                "share": b.share,
                "mean_confidence": b.mean_confidence,
                "accuracy": b.accuracy,
                "gap": b.gap,
            }
            for b in ev.bins
        ],
        "label_p_disagreements": ev.label_p_disagreements,
    }
    out["selective"] = {
        "threshold": sel.threshold,
        "threshold_source": sel.threshold_source,
        "run_id": ev.run_threshold.run_id,
        "finished": sel.finished,
        "decided_by_judge": sel.judge,
        "pending_review": sel.pending_review,
        "decided_by_human": sel.human,
        "coverage": sel.coverage,
        "auto_n": sel.auto_n,
        "auto_accuracy": sel.auto_accuracy,
        "routed_n": sel.routed_n,
        "routed_judge_accuracy": sel.routed_accuracy,
        "final_n": sel.final_n,
        "final_accuracy": sel.final_accuracy,
    }
    out["coverage_curve"] = [
        {"threshold": p.threshold, "coverage": p.coverage, "auto_accuracy": p.auto_accuracy, "n_auto": p.n_auto}
        for p in curve_grid(ev.curve)
    ]
    search = ev.search
    out["threshold_search"] = (
        None
        if search is None
        else {
            "target_accuracy": search.target,
            "threshold": search.threshold,
            "coverage": search.coverage,
            "auto_accuracy": search.auto_accuracy,
            "n_auto": search.n_auto,
            "threshold_ci95": search.threshold_ci,
            "auto_accuracy_ci95": search.accuracy_ci,
            "coverage_ci95": search.coverage_ci,
            "bootstrap_resamples": search.resamples,
            "resamples_without_threshold": search.resamples_without,
            "warnings": search.warnings,
        }
    )
    cal, at = ev.calibrated, ev.calibrated_point
    out["calibrated_threshold"] = {
        "method": cal.method,
        "alpha": cal.alpha,
        "delta": cal.delta,
        "min_n": cal.min_n,
        "threshold": cal.threshold,
        "n": cal.n,
        "agreement": cal.agreement,
        "agreement_bound": cal.agreement_bound,
        "coverage": at.coverage if at is not None else None,
        "auto_accuracy": at.auto_accuracy if at is not None else None,
        "needed_more": cal.needed_more,
        "sentence": cal.sentence(),
    }
    out["data"] = {
        "results_file": str(es.results_path),
        "gold_file": str(es.gold_path),
        "results_rows": es.results_rows,
        "gold_rows": es.gold_rows,
        "joined": es.n,
        "results_not_in_gold": es.results_not_in_gold,
        "gold_not_in_results": es.not_in_results,
        "errors": es.errors,
        "unreadable_verdicts": es.unreadable,
    }
    cleaned: dict[str, Any] = _clean(out)
    return cleaned
