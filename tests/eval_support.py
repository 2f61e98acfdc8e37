"""Helpers for the eval and select tests: results files shaped like `claimcourt run` writes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from claimcourt.jobs.runner import RESULT_COLUMNS
from tests.conftest import write_csv


def result(
    claim_id: str,
    p_green: float | None,
    *,
    decided_by: str | None = None,
    threshold: float = 0.7,
    human: int | None = None,
) -> dict[str, Any]:
    """One results row as the runner writes it. `p_green=None` is an unreadable verdict."""
    if p_green is None:
        routed = decided_by or ("human" if human is not None else "pending_review")
        return {"id": claim_id, "decided_by": routed, "label": "" if human is None else human}
    judge_label = int(p_green >= 0.5)
    confidence = max(p_green, 1 - p_green)
    if decided_by is None:
        decided_by = "judge" if confidence >= threshold else ("human" if human is not None else "pending_review")
    final: int | str = judge_label if decided_by == "judge" else ("" if human is None else human)
    return {
        "id": claim_id,
        "label": final,
        "decided_by": decided_by,
        "judge_label": judge_label,
        "p_green": round(p_green, 6),
        "confidence": round(confidence, 6),
        "rationale": "r",
    }


def write_results(path: Path, rows: list[dict[str, Any]]) -> Path:
    return write_csv(path, rows, list(RESULT_COLUMNS))


def write_gold(path: Path, labels: dict[str, int]) -> Path:
    return write_csv(path, [{"id": k, "text": f"claim {k}", "label": v} for k, v in labels.items()])
