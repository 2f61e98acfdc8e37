"""Reading a results file and a gold file, and joining them on id.

Ids stay the strings the files hold (patent numbers with leading zeros must survive). The gold file is
read whole (gold sets are small); the results file is streamed and only the rows with a gold label are
kept, so evaluating a sample of a million-claim run does not load the run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from claimcourt.errors import InputError
from claimcourt.store.records import RunCounts
from claimcourt.tables import (
    ID_COLUMNS,
    LABEL_COLUMNS,
    id_text,
    parse_label,
    read_columns,
    read_records,
    resolve_column,
)
from claimcourt.vocab import SENT_TO_A_PERSON, ClaimStatus

# What a results file may say a claim stands at: every status but "not debated yet".
IN_RESULTS: tuple[ClaimStatus, ...] = tuple(status for status in ClaimStatus if status != ClaimStatus.QUEUED)
RESULTS_REQUIRED = ("id", "decided_by", "judge_label", "p_green", "confidence", "label")


def _records(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    """(columns, rows numbered from 1 after the header) of a CSV or Parquet file, streamed, read as every
    table is (`tables.read_records`)."""
    columns = read_columns(path)
    return columns, read_records(path, columns, columns)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


# -- gold -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Gold:
    path: Path
    labels: dict[str, int]
    id_col: str
    label_col: str


def read_gold(path: Path, *, id_col: str | None = None, label_col: str | None = None) -> Gold:
    columns, rows = _records(path)
    id_col = resolve_column(path, columns, id_col, ID_COLUMNS, "id", "--id-col")
    label_col = resolve_column(path, columns, label_col, LABEL_COLUMNS, "label", "--label-col")
    labels: dict[str, int] = {}
    first_row: dict[str, int] = {}
    for row, values in rows:
        claim_id = id_text(values[id_col], path=path, row=row, column=id_col)
        if not claim_id:
            raise InputError("empty id", file=path, row=row, column=id_col)
        label = parse_label(values[label_col], path=path, row=row, column=label_col)
        if claim_id in labels and labels[claim_id] != label:
            raise InputError(
                f"id '{claim_id}' has label {labels[claim_id]} at row {first_row[claim_id]} and {label} here",
                file=path,
                row=row,
                column=label_col,
            )
        labels.setdefault(claim_id, label)
        first_row.setdefault(claim_id, row)
    if not labels:
        raise InputError("no labelled claims in the gold file", file=path)
    return Gold(path, labels, id_col, label_col)


# -- results --------------------------------------------------------------------------------------
@dataclass
class EvalSet:
    """The joined rows of one results file, as aligned arrays (one entry per claim with a gold label).

    `judge_label` / `final_label` are -1 where blank; `p_green` / `confidence` are NaN where blank.
    """

    results_path: Path
    gold_path: Path
    ids: list[str]
    gold: np.ndarray
    decided_by: np.ndarray
    judge_label: np.ndarray
    p_green: np.ndarray
    confidence: np.ndarray
    final_label: np.ndarray
    results_rows: int = 0
    results_verdicts: int = 0
    results_not_in_gold: int = 0
    gold_rows: int = 0
    not_in_results: int = 0
    examples_not_in_gold: list[str] = field(default_factory=list)
    # Over the whole results file (joined or not): for matching a run and inferring its threshold.
    status_counts: RunCounts = field(default_factory=RunCounts)
    sample_ids: list[str] = field(default_factory=list)
    lowest_auto_confidence: float | None = None
    highest_routed_confidence: float | None = None

    @property
    def n(self) -> int:
        return len(self.ids)

    @property
    def finished(self) -> np.ndarray:
        """Claims the run got through (decided by the Judge or a person, or waiting for one)."""
        return np.asarray(self.decided_by != ClaimStatus.ERROR)

    @property
    def has_label(self) -> np.ndarray:
        return np.asarray(self.judge_label >= 0)

    @property
    def has_p(self) -> np.ndarray:
        return np.asarray(~np.isnan(self.p_green))

    @property
    def errors(self) -> int:
        return int(np.sum(self.decided_by == ClaimStatus.ERROR))

    @property
    def unreadable(self) -> int:
        """Finished claims whose verdict could not be read (no p_green): kept out of calibration."""
        return int(np.sum(self.finished & ~self.has_p))


def _optional_label(value: Any, *, path: Path, row: int, column: str) -> int:
    return -1 if _text(value) == "" else parse_label(value, path=path, row=row, column=column)


def _optional_unit_float(value: Any, *, path: Path, row: int, column: str) -> float:
    text = _text(value)
    if not text:
        return math.nan
    try:
        number = float(text)
    except ValueError as exc:
        raise InputError(f"must be a number in [0, 1], got {text!r}", file=path, row=row, column=column) from exc
    if not 0.0 <= number <= 1.0:
        raise InputError(f"must be a number in [0, 1], got {text}", file=path, row=row, column=column)
    return number


_NUMERIC_ID = re.compile(r"^0*(\d+)(?:\.0+)?$")


def _loose_id(claim_id: str) -> str:
    """The id a spreadsheet would make of it (leading zeros and a '.0' lost), for a hint only."""
    found = _NUMERIC_ID.match(claim_id)
    return found.group(1) if found else claim_id.lower()


def load_eval_set(results_path: Path, gold: Gold) -> EvalSet:
    columns, rows = _records(results_path)
    missing = [c for c in RESULTS_REQUIRED if c not in columns]
    if missing:
        raise InputError(
            f"not a claimcourt results file: missing column(s) {', '.join(missing)} "
            f"(columns: {', '.join(columns)}); evaluate the results CSV written by `claimcourt run`",
            file=results_path,
            column=missing[0],
        )
    ids: list[str] = []
    gold_labels: list[int] = []
    decided: list[str] = []
    judge_labels: list[int] = []
    p_green: list[float] = []
    confidence: list[float] = []
    final: list[int] = []
    seen: dict[str, int] = {}
    total = verdicts = 0
    not_in_gold: list[str] = []
    not_in_gold_count = 0
    status_counts = dict.fromkeys(IN_RESULTS, 0)
    sample_ids: list[str] = []
    lowest_auto = highest_routed = math.nan
    for row, values in rows:
        total += 1
        claim_id = id_text(values["id"], path=results_path, row=row, column="id")
        if not claim_id:
            raise InputError("empty id", file=results_path, row=row, column="id")
        if claim_id in seen:
            raise InputError(
                f"duplicate id '{claim_id}' (first seen at row {seen[claim_id]})",
                file=results_path,
                row=row,
                column="id",
            )
        seen[claim_id] = row
        status = _text(values["decided_by"])
        if status not in IN_RESULTS:
            raise InputError(
                f"decided_by must be one of {', '.join(IN_RESULTS)}, got {status!r}",
                file=results_path,
                row=row,
                column="decided_by",
            )
        status_counts[ClaimStatus(status)] += 1
        if len(sample_ids) < 20:
            sample_ids.append(claim_id)
        judge_label = _optional_label(values["judge_label"], path=results_path, row=row, column="judge_label")
        p = _optional_unit_float(values["p_green"], path=results_path, row=row, column="p_green")
        conf = _optional_unit_float(values["confidence"], path=results_path, row=row, column="confidence")
        if math.isnan(conf) and not math.isnan(p):
            conf = max(p, 1.0 - p)
        if judge_label >= 0 or not math.isnan(p):
            verdicts += 1
            if not math.isnan(conf):
                if status == ClaimStatus.JUDGE:
                    lowest_auto = min(lowest_auto, conf) if not math.isnan(lowest_auto) else conf
                elif status in SENT_TO_A_PERSON and _text(values.get("audit")).lower() != "true":
                    # An audit went to a person although it was above the threshold: it says nothing of it.
                    highest_routed = max(highest_routed, conf) if not math.isnan(highest_routed) else conf
        label = gold.labels.get(claim_id)
        if label is None:
            not_in_gold_count += 1
            if len(not_in_gold) < 3:
                not_in_gold.append(claim_id)
            continue
        ids.append(claim_id)
        gold_labels.append(label)
        decided.append(status)
        judge_labels.append(judge_label)
        p_green.append(p)
        confidence.append(conf)
        final.append(_optional_label(values["label"], path=results_path, row=row, column="label"))
    if total == 0:
        raise InputError("no rows in the results file", file=results_path)
    if verdicts == 0:
        raise InputError(
            f"none of its {total} rows has a verdict (no judge_label or p_green): the run produced no verdicts "
            "to evaluate",
            file=results_path,
        )
    if not ids:
        gold_examples = list(gold.labels)[:3]
        hint = ""
        loose_gold = {_loose_id(g) for g in gold.labels}
        if any(_loose_id(r) in loose_gold for r in seen):
            hint = " The ids match once leading zeros or a '.0' are ignored: was one file saved by a spreadsheet?"
        raise InputError(
            f"no id matches the gold file {gold.path} (results ids such as {', '.join(not_in_gold)}; "
            f"gold ids such as {', '.join(gold_examples)}); check --id-col.{hint}",
            file=results_path,
        )
    joined = EvalSet(
        results_path=results_path,
        gold_path=gold.path,
        ids=ids,
        gold=np.asarray(gold_labels, dtype=np.int64),
        decided_by=np.asarray(decided, dtype=object),
        judge_label=np.asarray(judge_labels, dtype=np.int64),
        p_green=np.asarray(p_green, dtype=np.float64),
        confidence=np.asarray(confidence, dtype=np.float64),
        final_label=np.asarray(final, dtype=np.int64),
        results_rows=total,
        results_verdicts=verdicts,
        results_not_in_gold=not_in_gold_count,
        gold_rows=len(gold.labels),
        not_in_results=len(gold.labels) - len(ids),
        examples_not_in_gold=not_in_gold,
        status_counts=RunCounts.of(status_counts),
        sample_ids=sample_ids,
        lowest_auto_confidence=None if math.isnan(lowest_auto) else lowest_auto,
        highest_routed_confidence=None if math.isnan(highest_routed) else highest_routed,
    )
    if not np.any(joined.has_label | joined.has_p):
        raise InputError(
            f"none of the {joined.n} claims that have a gold label has a verdict (all failed or unreadable): "
            "nothing to evaluate",
            file=results_path,
        )
    return joined
