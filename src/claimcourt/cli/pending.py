"""`claimcourt pending`: the claims waiting for a person, per run."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from claimcourt.cli.common import ConfigOpt, WorkspaceOpt, claimcourt_command, console, settings_from, user_errors
from claimcourt.cli.review import nothing_waiting
from claimcourt.display import as_text, one_line
from claimcourt.errors import RunStateError
from claimcourt.vocab import ClaimStatus

if TYPE_CHECKING:  # the store loads when the command runs; the desk (and the graph) only to reconcile
    from claimcourt.store import Ledger, RunOverview


def pending(
    *,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Only this run, and list its waiting claims.")] = None,
    ids: Annotated[bool, typer.Option("--ids", help="Print only the waiting claim ids, one per line.")] = False,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List and count the claims waiting for a person, per run."""
    from claimcourt.store import existing_store

    with user_errors():
        settings = settings_from(workspace=workspace, config=config)
        store = existing_store(settings)
        if store is None:
            if run_id is not None:
                raise RunStateError(f"unknown run id '{run_id}' (workspace {settings.workspace} has no runs)")
            if not ids:
                nothing_waiting(settings, None)
            return
        from claimcourt.review.queries import run_summaries

        ledger = store.ledger
        try:
            runs = run_summaries(ledger, run_id)
            # A decision killed half-way shows as waiting in the ledger until its thread is read.
            if any(r.counts.pending_review for r in runs):
                from claimcourt.review.desk import reconcile_run  # the graph loads only where claims wait

                if sum(asyncio.run(reconcile_run(settings, r.run_id)) for r in runs if r.counts.pending_review):
                    runs = run_summaries(ledger, run_id)
            if ids:
                for run in runs:
                    for claim in ledger.claims(run.run_id, status=ClaimStatus.PENDING_REVIEW):
                        console.print(as_text(claim.claim_id), highlight=False, soft_wrap=True)
                return
            waiting = sum(r.counts.pending_review for r in runs)
            show_runs(runs)
            if run_id is not None and waiting:
                show_waiting_claims(ledger, run_id)
            if waiting:
                with_runs = sum(1 for r in runs if r.counts.pending_review)
                console.print(
                    f"[bold]{waiting}[/] claim(s) wait for a person in {with_runs} run(s). "
                    f"Review them with: {claimcourt_command()} review --run-id RUN",
                    highlight=False,
                )
            else:
                nothing_waiting(settings, run_id)
        finally:
            store.close()


def show_runs(runs: list[RunOverview]) -> None:
    table = Table(
        title="claims waiting for a person, per run (and who decided the rest)",
        title_justify="left",
        header_style="bold",
    )
    table.add_column("run")
    table.add_column("started")
    table.add_column("threshold", justify="right")
    table.add_column("waiting", justify="right", style="bold yellow")
    table.add_column("person", justify="right")
    table.add_column("Judge", justify="right")
    table.add_column("claims", justify="right")
    for run in runs:
        table.add_row(
            run.run_id,
            (run.run.created_at or "")[:16].replace("T", " "),
            f"{run.run.threshold:.2f}" if run.run.threshold is not None else "",
            str(run.counts.pending_review),
            str(run.counts.human),
            str(run.counts.judge),
            str(run.counts.total),
        )
    console.print(table)


def show_waiting_claims(ledger: Ledger, run_id: str) -> None:
    from claimcourt.review.queries import confidence_key, waiting_in_order

    table = Table(title=f"waiting in run {run_id}, lowest confidence first", title_justify="left", header_style="bold")
    table.add_column("id", no_wrap=True)
    table.add_column("confidence", justify="right")
    table.add_column("why")
    table.add_column("claim")
    for claim in waiting_in_order(ledger, run_id):
        state = claim.state()
        conf = confidence_key(state)
        text = one_line(state.text if state else "")
        table.add_row(
            as_text(claim.claim_id),
            f"{conf:.2f}" if conf >= 0 else "unreadable",
            "audit" if state is not None and state.audit else "routed",
            as_text(text[:90] + ("…" if len(text) > 90 else "")),
        )
    console.print(table)
