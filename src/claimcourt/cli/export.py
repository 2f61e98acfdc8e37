"""`claimcourt export`: a run's final labels with their provenance."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from claimcourt.cli.common import ConfigOpt, WorkspaceOpt, console, settings_from, user_errors
from claimcourt.cli.review import RunIdOpt
from claimcourt.errors import RunStateError


def export(
    *,
    output: Annotated[Path, typer.Option("--output", "-o", help="gold.csv or gold.parquet.")],
    run_id: RunIdOpt = None,
    human_only: Annotated[
        bool, typer.Option("--human-only", help="Only the claims a person decided (the gold labels).")
    ] = False,
    merge_silver: Annotated[
        Path | None,
        typer.Option(
            "--merge-silver",
            help="A labelled file (id,text,label): write it with the human labels in place of its labels.",
        ),
    ] = None,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Write the final labels of a run with their provenance (who decided, what they saw, when)."""
    from claimcourt.review.desk import reconcile_run
    from claimcourt.review.export import check_output, export_gold, export_training
    from claimcourt.review.queries import choose_run
    from claimcourt.store import existing_store

    with user_errors():
        settings = settings_from(workspace=workspace, config=config)
        check_output(output)
        store = existing_store(settings)
        if store is None:
            raise RunStateError(f"workspace {settings.workspace} has no runs to export")
        ledger = store.ledger
        try:
            chosen = choose_run(ledger, run_id, status=None, what="to export")
            if chosen is None:
                raise RunStateError(f"workspace {settings.workspace} has no runs to export")
            asyncio.run(reconcile_run(settings, chosen))
            if merge_silver is not None:
                summary = export_training(store, chosen, output, merge_silver)
                console.print(
                    f"Wrote [bold]{summary.rows}[/] training rows to {output}: "
                    f"{summary.silver_rows} from {merge_silver}, "
                    f"of which {summary.overridden} relabelled and {summary.confirmed} confirmed by a person, "
                    f"plus {summary.added} decided claims the silver file lacks.",
                    highlight=False,
                )
            else:
                summary = export_gold(store, chosen, output, human_only=human_only)
                console.print(
                    f"Wrote [bold]{summary.rows}[/] labels of run {chosen} to {output}: {summary.by_human} decided by "
                    f"a person, {summary.by_judge} by the Judge.",
                    highlight=False,
                )
            if summary.waiting:
                console.print(
                    f"[yellow]{summary.waiting} claim(s) still wait for a person and are not in the export.[/]",
                    highlight=False,
                )
        finally:
            store.close()
