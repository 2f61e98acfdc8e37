"""`claimcourt learn`: refit the offline Judge on the people's decisions; `--rejudge` shrinks a run's queue."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from claimcourt.cli.common import (
    ChromaUrlOpt,
    ConfigOpt,
    StorageOpt,
    WorkspaceOpt,
    console,
    settings_from,
    user_errors,
)
from claimcourt.vocab import ClaimStatus

if TYPE_CHECKING:  # the fit and the graph load when learning, not for --help
    from claimcourt.jobs.learn import LearnReport
    from claimcourt.state import ClaimState


def _claim_line(claim_id: str, state: ClaimState) -> None:
    verdict = state.verdict
    confidence = f"{verdict.confidence:.2f}" if verdict is not None else "?"
    where = "left the queue (decided by the Judge)" if state.decided_by == ClaimStatus.JUDGE else "still waits"
    # One line per claim as it is done: a long re-judging shows its progress (and a test can follow it).
    console.print(f"re-judged {state.claim_id}: {where} at confidence {confidence}", highlight=False, markup=False)


def _as_json(report: LearnReport) -> dict[str, Any]:
    out: dict[str, Any] = {"refitted": report.refitted, "where": report.where, **report.record.to_json()}
    out.pop("human_ids")
    if report.rejudged is not None:
        r = report.rejudged
        out["rejudged"] = {
            "left_queue": r.left_queue,
            "still_waiting": r.still_waiting,
            "audits_kept": r.audits,
            "leased_untouched": r.leased,
        }
    return out


def show(report: LearnReport, run_id: str | None) -> None:
    record = report.record
    if not report.refitted:
        console.print(f"No decision changed since Judge v{record.version}: it stays the current version.")
    console.print(record.describe(), highlight=False, soft_wrap=True)
    for note in record.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    r = report.rejudged
    if r is not None:
        console.print(
            f"Run {run_id}: {len(r.left_queue) + len(r.still_waiting)} waiting claims judged again by Judge "
            f"v{r.version}: {len(r.left_queue)} left the queue, {len(r.still_waiting)} still wait; "
            f"{len(r.audits)} audit claims kept as audits, {len(r.leased)} on a reviewer's screen left alone.",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        "calibrate now counts only claims judged by this version that it was not fitted on (see README).",
        highlight=False,
        soft_wrap=True,
    )


def learn(
    *,
    run_id: Annotated[str | None, typer.Option("--run-id", help="The run whose waiting claims to re-judge.")] = None,
    rejudge: Annotated[
        bool, typer.Option("--rejudge", help="Judge the run's waiting claims again with the new version.")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
    storage_url: StorageOpt = None,
    chroma_url: ChromaUrlOpt = None,
) -> None:
    """Refit the offline Judge on silver labels plus every human decision (a new Judge version)."""
    from claimcourt.jobs.learn import learn as learn_job

    with user_errors():
        settings = settings_from(
            workspace=workspace, config=config, storage_url=storage_url, retrieval={"chroma_url": chroma_url}
        )
        report = asyncio.run(
            learn_job(settings, run_id=run_id, rejudge=rejudge, on_claim=None if json_out else _claim_line)
        )
        if json_out:
            typer.echo(json.dumps(_as_json(report), indent=2))
            return
        show(report, run_id)
