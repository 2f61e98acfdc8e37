"""A run's results files: which columns, how a row is read off a claim's state, and writing them."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from claimcourt.csv_cells import spreadsheet_safe
from claimcourt.state import ClaimState
from claimcourt.vocab import FINISHED, ClaimStatus

if TYPE_CHECKING:
    from claimcourt.store.ledger import Ledger

RESULT_COLUMNS = (
    "id",
    "label",
    "decided_by",
    "audit",
    "judge_label",
    "p_green",
    "confidence",
    "rationale",
    "advocate",
    "skeptic",
    "neighbour_ids",
    "neighbour_labels",
    "neighbour_similarities",
    "reviewer",
    "note",
    "error",
    "judge_version",
    "rejudged",
)


def result_row(state: ClaimState) -> dict[str, Any]:
    verdict = state.verdict
    human = state.human
    return {
        "id": state.claim_id,
        "label": "" if state.final_label is None else state.final_label,
        "decided_by": state.decided_by or "",
        "audit": "true" if state.audit else "false",
        "judge_label": "" if verdict is None or verdict.label is None else verdict.label,
        "p_green": "" if verdict is None or verdict.p_green is None else round(verdict.p_green, 6),
        "confidence": "" if verdict is None else round(verdict.confidence, 6),
        "rationale": verdict.rationale if verdict is not None else "",
        "advocate": state.advocate.text if state.advocate else "",
        "skeptic": state.skeptic.text if state.skeptic else "",
        "neighbour_ids": ";".join(n.id for n in state.neighbours),
        "neighbour_labels": ";".join(str(n.label) for n in state.neighbours),
        "neighbour_similarities": ";".join(f"{n.similarity:.4f}" for n in state.neighbours),
        "reviewer": human.reviewer or "" if human else "",
        "note": human.note or "" if human else "",
        "error": "",
        # Which fit of the offline Judge gave the verdict, and whether `learn --rejudge` gave it.
        "judge_version": "" if verdict is None or verdict.judge_version is None else verdict.judge_version,
        "rejudged": "true" if verdict is not None and verdict.rejudged else "false",
    }


def write_results(ledger: Ledger, run_id: str, csv_path: Path, jsonl_path: Path) -> int:
    """Every finished (or failed) claim of the run, once, in input order. Written to a temporary file
    and renamed, so a crash mid-write never leaves a half results file over a good one."""
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    jsonl_path.parent.mkdir(parents=True, exist_ok=True)
    # One temporary name per process: several workers of one run may write its results at once.
    csv_tmp = csv_path.with_name(f"{csv_path.name}.{os.getpid()}.tmp")
    jsonl_tmp = jsonl_path.with_name(f"{jsonl_path.name}.{os.getpid()}.tmp")
    written = 0
    with (
        csv_tmp.open("w", encoding="utf-8", newline="") as csv_fh,
        jsonl_tmp.open("w", encoding="utf-8") as js,
    ):
        writer = csv.DictWriter(csv_fh, fieldnames=RESULT_COLUMNS)
        writer.writeheader()
        for claim in ledger.claims(run_id):
            if claim.status == ClaimStatus.ERROR:
                error_row = {"id": claim.claim_id, "decided_by": ClaimStatus.ERROR, "error": claim.error or ""}
                writer.writerow({k: spreadsheet_safe(v) for k, v in error_row.items()})
                js.write(json.dumps({"claim_id": claim.claim_id, "error": claim.error}) + "\n")
                written += 1
                continue
            state = claim.state()
            if state is None or claim.status not in FINISHED:
                continue
            writer.writerow({k: spreadsheet_safe(v) for k, v in result_row(state).items()})
            js.write(json.dumps({"run_id": run_id, "seq": claim.seq, **state.model_dump(mode="json")}) + "\n")
            written += 1
    csv_tmp.replace(csv_path)
    jsonl_tmp.replace(jsonl_path)
    return written
