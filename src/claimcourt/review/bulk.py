"""Bulk decisions from a spreadsheet: `id,label[,note,reviewer]`.

The whole file is validated before anything is touched (labels 0/1, no duplicate ids), then every id
is checked against the run: unknown ids, ids that are not waiting, and decisions the review policy
refuses (overruling a Judge the people saw, without a note) are reported together and nothing is
applied. Decisions that were already applied (same claim, reviewer and label: a file run twice, or
a run stopped half way) are skipped, so applying a file again is safe. The rest take the same path as
an interactive decision (`ReviewDesk.decide`), each committed on its own.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimcourt.csv_cells import from_spreadsheet_safe
from claimcourt.errors import InputError, ReviewRefused
from claimcourt.paths import check_input_file
from claimcourt.review.desk import WAITING, ReviewDesk
from claimcourt.review.policy import check_decision
from claimcourt.review.records import Outcome
from claimcourt.state import HumanDecision
from claimcourt.tables import parse_label

ID_COLUMNS = ("id", "claim_id", "doc_id", "patent_id")
LABEL_COLUMNS = ("label", "human_label", "decision")


@dataclass(frozen=True)
class BulkDecision:
    row: int
    claim_id: str
    label: int
    note: str | None
    reviewer: str | None


@dataclass
class BulkPlan:
    to_apply: list[BulkDecision] = field(default_factory=list)
    already_applied: list[BulkDecision] = field(default_factory=list)
    unknown: list[BulkDecision] = field(default_factory=list)
    # (decision, why it cannot be applied)
    not_waiting: list[tuple[BulkDecision, str]] = field(default_factory=list)
    # (decision, the policy's refusal): e.g. overruling a Judge the people saw, with no note.
    refused: list[tuple[BulkDecision, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.unknown and not self.not_waiting and not self.refused


@dataclass
class BulkResult:
    plan: BulkPlan
    outcomes: list[Outcome] = field(default_factory=list)
    overrides: int = 0
    waiting_after: int = 0


def _pick(path: Path, columns: list[str], names: tuple[str, ...], role: str) -> str:
    lowered = {c.strip().lower(): c for c in columns}
    for name in names:
        if name in lowered:
            return lowered[name]
    raise InputError(
        f"no {role} column (looked for {', '.join(names)}; columns: {', '.join(columns) or 'none'})", file=path
    )


def _records(reader: csv.DictReader[str], path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    row = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # strict: a quote left open, or text after a closing quote
            raise InputError(f"malformed CSV ({exc}): a quote left open?", file=path, row=row + 1) from exc
        row += 1
        yield row, record


def read_decisions(path: Path) -> list[BulkDecision]:
    """Every row of a decisions CSV, validated; errors name the file, row and column."""
    check_input_file(path)
    if path.suffix.lower() in (".parquet", ".pq", ".xlsx", ".xls"):
        raise InputError("decisions must be a CSV file (id,label[,note,reviewer])", file=path)
    try:
        # Bytes, then decode: read_text's universal newlines would turn a lone \r inside a quoted note
        # into \n, so the stored note would differ from the cell; the csv module handles row endings.
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError("is not UTF-8; save the file as UTF-8", file=path) from exc
    # StringIO, not splitlines(): splitlines also cuts at \x1c, \x85 or U+2028 inside a quoted note.
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    columns = [c.strip() for c in reader.fieldnames or []]
    if not columns:
        raise InputError("the file is empty (no header line)", file=path)
    reader.fieldnames = columns
    id_col = _pick(path, columns, ID_COLUMNS, "id")
    label_col = _pick(path, columns, LABEL_COLUMNS, "label")
    lowered = {c.lower(): c for c in columns}
    note_col = lowered.get("note")
    reviewer_col = lowered.get("reviewer")
    decisions: list[BulkDecision] = []
    seen: dict[str, int] = {}
    for row, record in _records(reader, path):
        if all(not (v or "").strip() for v in record.values() if isinstance(v, str)):
            continue
        if None in record:
            raise InputError("has more fields than the header (unbalanced quotes?)", file=path, row=row)
        record = {k: from_spreadsheet_safe(v) if isinstance(v, str) else v for k, v in record.items()}
        claim_id = (record.get(id_col) or "").strip()
        if not claim_id:
            raise InputError("empty id", file=path, row=row, column=id_col)
        label = parse_label(record.get(label_col), path=path, row=row, column=label_col)
        if claim_id in seen:
            raise InputError(
                f"duplicate id '{claim_id}' (first at row {seen[claim_id]}): one decision per claim",
                file=path,
                row=row,
                column=id_col,
            )
        seen[claim_id] = row
        note = (record.get(note_col) or "").strip() if note_col else ""
        reviewer = (record.get(reviewer_col) or "").strip() if reviewer_col else ""
        decisions.append(BulkDecision(row, claim_id, label, note or None, reviewer or None))
    if not decisions:
        raise InputError("no decisions in the file", file=path)
    return decisions


def plan_decisions(
    desk: ReviewDesk, decisions: list[BulkDecision], *, reviewer: str, second_opinion: bool, verdict_shown: bool
) -> BulkPlan:
    plan = BulkPlan()
    statuses = desk.ledger.statuses(desk.run_id, [d.claim_id for d in decisions])
    states = {c.claim_id: c.state() for c in desk.ledger.claims(desk.run_id)}
    reviews: dict[str, list[tuple[str, int]]] = {}
    for review in desk.store.active(run_id=desk.run_id):
        reviews.setdefault(review.claim_id, []).append((review.reviewer, review.label))
    for decision in decisions:
        who = decision.reviewer or reviewer
        status = statuses.get(decision.claim_id)
        earlier = reviews.get(decision.claim_id, [])
        if status is None:
            plan.unknown.append(decision)
        elif (who, decision.label) in earlier:
            plan.already_applied.append(decision)
        elif any(name == who for name, _ in earlier):
            plan.not_waiting.append((decision, f"already decided by {who} with another label"))
        elif second_opinion:
            if status == "human":
                plan.to_apply.append(decision)
            else:
                why = "waiting for a first decision" if status == WAITING else f"decided by {status}"
                plan.not_waiting.append((decision, f"{why}, not by a person"))
        elif status == WAITING:
            plan.to_apply.append(decision)
        else:
            hint = " (use --second-opinion)" if status == "human" else ""
            plan.not_waiting.append((decision, f"not waiting: decided by {status}{hint}"))
    _check_policy(desk, plan, states, reviewer=reviewer, verdict_shown=verdict_shown)
    return plan


def _check_policy(
    desk: ReviewDesk, plan: BulkPlan, states: dict[str, Any], *, reviewer: str, verdict_shown: bool
) -> None:
    """Move the decisions the review policy refuses from `to_apply` to `refused`, asking the desk's own
    check, so that a sheet is applied whole or not at all (the desk would refuse them half-way)."""
    allowed = []
    for decision in plan.to_apply:
        state = states.get(decision.claim_id)
        if state is None:
            allowed.append(decision)  # no debate yet: the desk says so when it is applied
            continue
        situation = desk.situation(state, decision.reviewer or reviewer, verdict_shown=verdict_shown)
        try:
            check_decision("label", decision.label, decision.note, situation)
        except ReviewRefused as refused:
            plan.refused.append((decision, refused.message))
        else:
            allowed.append(decision)
    plan.to_apply = allowed


async def apply_decisions(
    desk: ReviewDesk,
    plan: BulkPlan,
    *,
    reviewer: str,
    verdict_shown: bool,
    second_opinion: bool,
    on_progress: Callable[[int, int], None] | None = None,
) -> BulkResult:
    result = BulkResult(plan)
    total = len(plan.to_apply)
    for done, decision in enumerate(plan.to_apply, start=1):
        human = HumanDecision(
            label=decision.label,
            reviewer=decision.reviewer or reviewer,
            note=decision.note,
            verdict_shown=verdict_shown,
        )
        outcome = await desk.decide(
            decision.claim_id, human, source="bulk", shown=("decisions file",), second_opinion=second_opinion
        )
        result.outcomes.append(outcome)
        judge = outcome.review.judge_label
        if judge is not None and judge != decision.label:
            result.overrides += 1
        if on_progress is not None:
            on_progress(done, total)
    result.waiting_after = desk.waiting_count()
    return result
