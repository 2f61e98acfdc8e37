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


@dataclass(frozen=True)
class _ResultRow:
    """One row of a results file, checked: what the Judge said and who decided."""

    claim_id: str
    status: ClaimStatus
    judge_label: int  # -1 where blank
    p_green: float  # NaN where blank
    confidence: float  # NaN where blank and no p_green to derive it from
    audit: bool

    @property
    def has_verdict(self) -> bool:
        return self.judge_label >= 0 or not math.isnan(self.p_green)


def _result_row(values: dict[str, Any], *, path: Path, row: int, seen: dict[str, int]) -> _ResultRow:
    """The row's id (new to the file: `seen` maps the ids so far to their rows), status and verdict."""
    claim_id = id_text(values["id"], path=path, row=row, column="id")
    if not claim_id:
        raise InputError("empty id", file=path, row=row, column="id")
    if claim_id in seen:
        raise InputError(
            f"duplicate id '{claim_id}' (first seen at row {seen[claim_id]})", file=path, row=row, column="id"
        )
    seen[claim_id] = row
    status = _text(values["decided_by"])
    if status not in IN_RESULTS:
        raise InputError(
            f"decided_by must be one of {', '.join(IN_RESULTS)}, got {status!r}",
            file=path,
            row=row,
            column="decided_by",
        )
    judge_label = _optional_label(values["judge_label"], path=path, row=row, column="judge_label")
    p = _optional_unit_float(values["p_green"], path=path, row=row, column="p_green")
    conf = _optional_unit_float(values["confidence"], path=path, row=row, column="confidence")
    if math.isnan(conf) and not math.isnan(p):
        conf = max(p, 1.0 - p)
    audit = _text(values.get("audit")).lower() == "true"
    return _ResultRow(claim_id, ClaimStatus(status), judge_label, p, conf, audit)


@dataclass
class _WholeRun:
    """What the whole results file says of its run, joined with gold or not: for matching the run and
    inferring its threshold."""

    rows: int = 0
    verdicts: int = 0
    status_counts: dict[ClaimStatus, int] = field(default_factory=lambda: dict.fromkeys(IN_RESULTS, 0))
    sample_ids: list[str] = field(default_factory=list)
    lowest_auto: float = math.nan
    highest_routed: float = math.nan

    def see(self, result: _ResultRow) -> None:
        self.rows += 1
        self.status_counts[result.status] += 1
        if len(self.sample_ids) < 20:
            self.sample_ids.append(result.claim_id)
        if not result.has_verdict:
            return
        self.verdicts += 1
        conf = result.confidence
        if math.isnan(conf):
            return
        if result.status == ClaimStatus.JUDGE:
            self.lowest_auto = conf if math.isnan(self.lowest_auto) else min(self.lowest_auto, conf)
        elif result.status in SENT_TO_A_PERSON and not result.audit:
            # An audit went to a person although it was above the threshold: it says nothing of it.
            self.highest_routed = conf if math.isnan(self.highest_routed) else max(self.highest_routed, conf)


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
    run = _WholeRun()
    joined: list[tuple[_ResultRow, int, int]] = []  # (row, its gold label, its final label)
    seen: dict[str, int] = {}
    not_in_gold: list[str] = []
    for row, values in rows:
        result = _result_row(values, path=results_path, row=row, seen=seen)
        run.see(result)
        label = gold.labels.get(result.claim_id)
        if label is None:
            if len(not_in_gold) < 3:
                not_in_gold.append(result.claim_id)
            continue
        final = _optional_label(values["label"], path=results_path, row=row, column="label")
        joined.append((result, label, final))
    if run.rows == 0:
        raise InputError("no rows in the results file", file=results_path)
    if run.verdicts == 0:
        raise InputError(
            f"none of its {run.rows} rows has a verdict (no judge_label or p_green): the run produced no verdicts "
            "to evaluate",
            file=results_path,
        )
    if not joined:
        raise _no_id_matches(results_path, gold, seen, not_in_gold)
    evalset = EvalSet(
        results_path=results_path,
        gold_path=gold.path,
        ids=[r.claim_id for r, _, _ in joined],
        gold=np.asarray([label for _, label, _ in joined], dtype=np.int64),
        decided_by=np.asarray([str(r.status) for r, _, _ in joined], dtype=object),
        judge_label=np.asarray([r.judge_label for r, _, _ in joined], dtype=np.int64),
        p_green=np.asarray([r.p_green for r, _, _ in joined], dtype=np.float64),
        confidence=np.asarray([r.confidence for r, _, _ in joined], dtype=np.float64),
        final_label=np.asarray([final for _, _, final in joined], dtype=np.int64),
        results_rows=run.rows,
        results_verdicts=run.verdicts,
        results_not_in_gold=run.rows - len(joined),
        gold_rows=len(gold.labels),
        not_in_results=len(gold.labels) - len(joined),
        examples_not_in_gold=not_in_gold,
        status_counts=RunCounts.of(run.status_counts),
        sample_ids=run.sample_ids,
        lowest_auto_confidence=None if math.isnan(run.lowest_auto) else run.lowest_auto,
        highest_routed_confidence=None if math.isnan(run.highest_routed) else run.highest_routed,
    )
    if not np.any(evalset.has_label | evalset.has_p):
        raise InputError(
            f"none of the {evalset.n} claims that have a gold label has a verdict (all failed or unreadable): "
            "nothing to evaluate",
            file=results_path,
        )
    return evalset


def _no_id_matches(results_path: Path, gold: Gold, seen: dict[str, int], not_in_gold: list[str]) -> InputError:
    """No results id has a gold label: say which ids each file holds, and whether a spreadsheet ate zeros."""
    gold_examples = list(gold.labels)[:3]
    hint = ""
    loose_gold = {_loose_id(g) for g in gold.labels}
    if any(_loose_id(r) in loose_gold for r in seen):
        hint = " The ids match once leading zeros or a '.0' are ignored: was one file saved by a spreadsheet?"
    return InputError(
        f"no id matches the gold file {gold.path} (results ids such as {', '.join(not_in_gold)}; "
        f"gold ids such as {', '.join(gold_examples)}); check --id-col.{hint}",
        file=results_path,
    )
