"""The evaluation built into `train judge`: the held-out claims scored as the Judge scores them (one
forward pass, P(YES) / (P(YES) + P(NO)) at the answer position, through the hf profile's own
`label_logits`), with the new adapter and with it switched off, measured with `claimcourt eval`'s
metric functions and its coverage curve."""

from __future__ import annotations

from typing import Any

import numpy as np

from claimcourt.eval.metrics import Scores, compute
from claimcourt.eval.selective import coverage_curve
from claimcourt.models.hf import engine as hf_engine
from claimcourt.models.hf.loading import LoadedModel

# The numbers the card and the CLI show, in this order (coverage and auto_accuracy are at the threshold).
SHOWN = ("accuracy", "f1", "macro_f1", "kappa", "brier", "ece", "coverage", "auto_accuracy")


def p_green(
    loaded: LoadedModel, adapter: str | None, prompts: list[list[int]], label_ids: tuple[int, int], *, batch: int
) -> list[float]:
    """p_green of each prompt with `adapter` active (None: the base model, adapter off)."""
    out: list[float] = []
    with loaded.role(adapter) as model:
        for start in range(0, len(prompts), batch):
            chunk = prompts[start : start + batch]
            out.extend(
                hf_engine.p_green_from_logits(y, n) for y, n in hf_engine.label_logits(model, loaded, chunk, label_ids)
            )
    return out


def measure(gold: list[int], p: list[float], *, threshold: float) -> dict[str, Any]:
    """`claimcourt eval`'s headline numbers for verdicts read from p_green (label = p >= 0.5,
    confidence = max(p, 1 - p), as `Verdict.from_p_green`)."""
    probs = np.asarray(p, dtype=np.float64)
    y_true = np.asarray(gold, dtype=np.int64)
    y_pred = (probs >= 0.5).astype(np.int64)
    values: dict[str, Any] = compute(Scores.of(y_true, y_pred, probs))
    point = coverage_curve(np.maximum(probs, 1.0 - probs), y_pred == y_true, total=len(gold)).at(threshold)
    values["coverage"] = point.coverage
    values["auto_accuracy"] = point.auto_accuracy
    values["n"] = len(gold)
    values["threshold"] = threshold
    return values


def evaluate_adapter(
    loaded: LoadedModel,
    adapter: str,
    prompts: list[list[int]],
    gold: list[int],
    label_ids: tuple[int, int],
    *,
    threshold: float,
    batch: int,
) -> dict[str, dict[str, Any]]:
    """{'adapter': numbers, 'base': numbers} on the same claims; empty without held-out claims."""
    if not prompts:
        return {}
    return {
        "adapter": measure(gold, p_green(loaded, adapter, prompts, label_ids, batch=batch), threshold=threshold),
        "base": measure(gold, p_green(loaded, None, prompts, label_ids, batch=batch), threshold=threshold),
    }
