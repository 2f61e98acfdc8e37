"""The Judge measured against the people: the claims a person decided in a run, with the people's
final labels as gold, as an `Evaluation` the eval plots can draw (confusion matrix, reliability,
accuracy-coverage)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from claimcourt.eval.data import EvalSet
from claimcourt.eval.evaluate import Evaluation, evaluate
from claimcourt.eval.plots import confusion_matrix_plot, coverage_plot, reliability_plot
from claimcourt.eval.runinfo import RunThreshold
from claimcourt.store.ledger import Ledger
from claimcourt.vocab import ClaimStatus

PLOTS = ("confusion_matrix", "reliability", "coverage")


def judge_vs_people(ledger: Ledger, run_id: str) -> Evaluation | None:
    """None while no claim of the run has both a person's label and a verdict."""
    run = ledger.run(run_id)
    ids: list[str] = []
    gold: list[int] = []
    judge: list[int] = []
    p_green: list[float] = []
    confidence: list[float] = []
    for claim in ledger.claims(run_id, status=ClaimStatus.HUMAN):
        state = claim.state()
        if state is None or state.final_label is None or state.verdict is None:
            continue
        verdict = state.verdict
        ids.append(claim.claim_id)
        gold.append(state.final_label)
        readable = verdict.readable and verdict.label is not None
        judge.append(verdict.label if readable and verdict.label is not None else -1)
        p_green.append(verdict.p_green if readable and verdict.p_green is not None else math.nan)
        confidence.append(verdict.confidence if readable else math.nan)
    if not any(label >= 0 for label in judge):
        return None
    where = Path(f"run {run_id}")
    es = EvalSet(
        results_path=where,
        gold_path=where,
        ids=ids,
        gold=np.asarray(gold, dtype=np.int64),
        decided_by=np.asarray([ClaimStatus.HUMAN.value] * len(ids), dtype=object),
        judge_label=np.asarray(judge, dtype=np.int64),
        p_green=np.asarray(p_green, dtype=np.float64),
        confidence=np.asarray(confidence, dtype=np.float64),
        final_label=np.asarray(gold, dtype=np.int64),
        results_rows=len(ids),
        results_verdicts=sum(1 for label in judge if label >= 0),
        gold_rows=len(ids),
    )
    threshold = RunThreshold(run.threshold, f"run ledger (run '{run_id}')", run_id)
    return evaluate(es, name="Judge vs people", threshold=threshold)


def draw(ev: Evaluation, plot: str, path: Path) -> Path:
    if plot == "confusion_matrix":
        return confusion_matrix_plot(ev, path)
    if plot == "reliability":
        return reliability_plot([ev], path)
    if plot == "coverage":
        return coverage_plot([ev], path)
    raise ValueError(f"unknown plot {plot!r}")
