"""Gold labels out: the final label of every decided claim with its provenance, or a training set in
which the human labels override the silver labels of the same ids."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimcourt.csv_cells import spreadsheet_safe
from claimcourt.errors import InputError
from claimcourt.paths import check_output_file
from claimcourt.state import ClaimState, utc_now
from claimcourt.store import Review, Store
from claimcourt.tables import ClaimTable
from claimcourt.vocab import ClaimStatus, Node

GOLD_COLUMNS: tuple[str, ...] = (
    "run_id",
    "id",
    "text",
    "label",
    "decided_by",
    "audit",
    "human_label",
    "reviewer",
    "note",
    "verdict_shown",
    "shown",
    "review_source",
    "shown_at",
    "decided_at",
    "judge_label",
    "judge_confidence",
    "judge_p_green",
    "judged_at",
    "judge_version",
    "second_opinions",
    "exported_at",
)

TRAINING_COLUMNS: tuple[str, ...] = ("id", "text", "label", "label_source", "silver_label", "human_label", "reviewer")
_INT_COLUMNS = {"label", "human_label", "judge_label", "silver_label", "judge_version"}
_FLOAT_COLUMNS = {"judge_confidence", "judge_p_green"}
_BOOL_COLUMNS = {"verdict_shown", "audit"}
FORMATS = (".csv", ".parquet")


@dataclass
class ExportSummary:
    path: Path
    rows: int
    by_human: int = 0
    by_judge: int = 0
    waiting: int = 0
    # --merge-silver only
    silver_rows: int = 0
    overridden: int = 0
    confirmed: int = 0
    added: int = 0
    columns: Sequence[str] = field(default_factory=tuple)


def check_output(path: Path) -> None:
    check_output_file(path)
    if path.suffix.lower() not in FORMATS:
        raise InputError("the output must end in .csv or .parquet", file=path)


def _primary(state: ClaimState, reviews: list[Review]) -> Review | None:
    human = state.human
    if human is None:
        return None
    for review in reviews:
        if review.resumed_thread and review.decided_at == human.decided_at:
            return review
    return None


def gold_rows(store: Store, run_id: str, *, human_only: bool) -> tuple[list[dict[str, Any]], int]:
    """One row per decided claim of the run, in input order; also how many still wait."""
    ledger = store.ledger
    ledger.run(run_id)  # unknown run -> a clear error
    reviews: dict[str, list[Review]] = {}
    for review in store.reviews.active(run_id=run_id):
        reviews.setdefault(review.claim_id, []).append(review)
    exported_at = utc_now()
    rows: list[dict[str, Any]] = []
    waiting = 0
    for claim in ledger.claims(run_id):
        if claim.status == ClaimStatus.PENDING_REVIEW:
            waiting += 1
            continue
        state = claim.state()
        if state is None or claim.status not in (ClaimStatus.JUDGE, ClaimStatus.HUMAN) or state.final_label is None:
            continue
        if human_only and claim.status != ClaimStatus.HUMAN:
            continue
        verdict = state.verdict
        human = state.human
        claim_reviews = reviews.get(claim.claim_id, [])
        primary = _primary(state, claim_reviews)
        others = [r for r in claim_reviews if r is not primary]
        judged = state.timings.get(Node.JUDGE, {})
        rows.append(
            {
                "run_id": run_id,
                "id": state.claim_id,
                "text": state.text,
                "label": state.final_label,
                "decided_by": state.decided_by,
                "audit": state.audit,
                "human_label": human.label if human else None,
                "reviewer": human.reviewer if human else None,
                "note": human.note if human else None,
                "verdict_shown": human.verdict_shown if human else None,
                "shown": ";".join(primary.shown) if primary else None,
                "review_source": primary.source if primary else ("thread" if human else None),
                "shown_at": primary.shown_at if primary else None,
                "decided_at": human.decided_at if human else None,
                "judge_label": verdict.label if verdict and verdict.readable else None,
                "judge_confidence": round(verdict.confidence, 6) if verdict else None,
                "judge_p_green": round(verdict.p_green, 6) if verdict and verdict.p_green is not None else None,
                "judged_at": judged.get("started_at"),
                "judge_version": verdict.judge_version if verdict else None,
                "second_opinions": ";".join(f"{r.reviewer}={r.label}" for r in others) or None,
                "exported_at": exported_at,
            }
        )
    return rows, waiting


def write_table(path: Path, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """CSV or Parquet by suffix, through a temporary file renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    if path.suffix.lower() == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        def kind(column: str) -> Any:
            if column in _INT_COLUMNS:
                return pa.int64()
            if column in _FLOAT_COLUMNS:
                return pa.float64()
            if column in _BOOL_COLUMNS:
                return pa.bool_()
            return pa.string()

        schema = pa.schema([(c, kind(c)) for c in columns])
        table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows], schema=schema)
        pq.write_table(table, tmp)
    else:
        with tmp.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({c: _csv_value(row.get(c)) for c in columns})
    tmp.replace(path)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return spreadsheet_safe(value)


def export_gold(store: Store, run_id: str, path: Path, *, human_only: bool) -> ExportSummary:
    check_output(path)
    rows, waiting = gold_rows(store, run_id, human_only=human_only)
    write_table(path, rows, GOLD_COLUMNS)
    by_human = sum(1 for r in rows if r["decided_by"] == ClaimStatus.HUMAN)
    return ExportSummary(
        path, len(rows), by_human=by_human, by_judge=len(rows) - by_human, waiting=waiting, columns=GOLD_COLUMNS
    )


def export_training(store: Store, run_id: str, path: Path, silver: Path) -> ExportSummary:
    """The silver file with the run's human labels in place of the silver labels of the same ids;
    claims a person decided that the silver file lacks are added at the end."""
    check_output(path)
    gold, waiting = gold_rows(store, run_id, human_only=True)
    human = {row["id"]: row for row in gold}
    table = ClaimTable(silver, with_labels=True)
    table.validate()
    summary = ExportSummary(path, 0, by_human=len(human), waiting=waiting, columns=TRAINING_COLUMNS)
    rows: list[dict[str, Any]] = []
    used: set[str] = set()
    for claim in table.rows():
        decided = human.get(claim.id)
        summary.silver_rows += 1
        if decided is None:
            rows.append({"id": claim.id, "text": claim.text, "label": claim.label, "label_source": "silver"})
            rows[-1]["silver_label"] = claim.label
            continue
        used.add(claim.id)
        if decided["label"] == claim.label:
            summary.confirmed += 1
        else:
            summary.overridden += 1
        rows.append(
            {
                "id": claim.id,
                "text": claim.text,
                "label": decided["label"],
                "label_source": "human",
                "silver_label": claim.label,
                "human_label": decided["label"],
                "reviewer": decided["reviewer"],
            }
        )
    for claim_id, decided in human.items():
        if claim_id in used:
            continue
        summary.added += 1
        rows.append(
            {
                "id": claim_id,
                "text": decided["text"],
                "label": decided["label"],
                "label_source": "human",
                "human_label": decided["label"],
                "reviewer": decided["reviewer"],
            }
        )
    write_table(path, rows, TRAINING_COLUMNS)
    summary.rows = len(rows)
    return summary
