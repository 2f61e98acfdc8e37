"""`claimcourt agreement`: Cohen's kappa between reviewers, and between the Judge and the people."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from claimcourt.cli.common import ConfigOpt, WorkspaceOpt, console, settings_from, user_errors
from claimcourt.errors import RunStateError

if TYPE_CHECKING:
    from claimcourt.review.agreement import Agreement


def agreement(
    *,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Only this run (default: every run).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Cohen's kappa between reviewers, and between the Judge and the people, with counts."""
    from claimcourt.review.agreement import agreement_report
    from claimcourt.store import existing_store

    with user_errors():
        settings = settings_from(workspace=workspace, config=config)
        store = existing_store(settings)
        if store is None:
            raise RunStateError(f"workspace {settings.workspace} has no runs")
        try:
            if run_id is not None:
                store.ledger.run(run_id)
            reviews = store.reviews.active(run_id=run_id)
            history = store.reviews.every(run_id=run_id)
        finally:
            store.close()
        report = agreement_report(reviews, history=history)
        if as_json:
            console.print_json(json.dumps(report.as_dict()))
            return
        if not reviews:
            console.print("No human decisions yet: nothing to compare.")
            return
        console.print(
            f"{report.decisions} human decision(s) on {report.claims} claim(s)"
            + (f" in run {run_id}" if run_id else ""),
            highlight=False,
        )
        if report.reviewers:
            console.print(agreement_table("between reviewers", report.reviewers))
        else:
            console.print("[dim]No claim has decisions by two reviewers yet (review --second-opinion).[/]")
        if report.judge:
            console.print(agreement_table("the Judge and the people", report.judge))


def agreement_table(title: str, rows: list[Agreement]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    table.add_column("raters")
    table.add_column("claims", justify="right")
    table.add_column("agree", justify="right")
    table.add_column("observed", justify="right")
    table.add_column("kappa", justify="right", style="bold")
    for row in rows:
        kappa = "n/a" if row.kappa is None else f"{row.kappa:.3f}"
        observed = "" if row.observed is None else f"{row.observed:.3f}"
        table.add_row(f"{row.a} vs {row.b}", str(row.n), str(row.agree), observed, kappa)
    return table
