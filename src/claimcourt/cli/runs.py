"""`claimcourt runs`: the runs in a workspace and where their claims stand."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich import box
from rich.table import Table

from claimcourt.cli.common import ConfigOpt, StorageOpt, WorkspaceOpt, console, settings_from, user_errors

if TYPE_CHECKING:
    from claimcourt.config import Settings

RunsFormat = Literal["rich", "json"]


def run_summaries(settings: Settings) -> list[dict[str, Any]]:
    """One row per run, oldest first; counts are claims by where they stand."""
    from claimcourt.models.offline.version import versions_in_run
    from claimcourt.store import existing_store

    store = existing_store(settings)
    if store is None:
        return []
    with store:
        rows = store.ledger.runs()
        workers = store.work.alive_counts(lease_s=settings.worker_lease_s)
        versions = {row.run_id: versions_in_run(store.ledger, row.run_id) for row in rows}
    return [
        {
            "run_id": row.run_id,
            "created_at": row.run.created_at,
            "input_file": row.run.input_file,
            "profile": row.run.profile,
            "threshold": row.run.threshold,
            "claims": row.counts.total,
            "decided_by_judge": row.counts.judge,
            "waiting": row.counts.pending_review,
            "decided_by_human": row.counts.human,
            "not_run": row.counts.queued,
            "failed": row.counts.error,
            "workers_alive": workers.get(row.run_id, 0),
            "judge_versions": versions.get(row.run_id, {}),
        }
        for row in rows
    ]


def _when(iso: str) -> str:
    # "2026-11-21T01:06:13.730+00:00" -> "2026-11-21 01:06": minutes are enough to tell runs apart.
    return iso[:16].replace("T", " ") if len(iso) >= 16 else iso


def runs(
    *,
    format_: Annotated[RunsFormat, typer.Option("--format", "-f", help="rich (terminal) or json.")] = "rich",
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
    storage_url: StorageOpt = None,
) -> None:
    """List the runs in a workspace: when, how many claims, decided by the Judge, waiting, decided by a person."""
    with user_errors():
        settings = settings_from(workspace=workspace, config=config, storage_url=storage_url)
        summaries = run_summaries(settings)
        if format_ == "json":
            typer.echo(json.dumps(summaries, indent=2, ensure_ascii=False))
            return
        if not summaries:
            console.print(f"No runs in workspace {settings.workspace} yet.", highlight=False)
            return
        table = Table(
            title=f"runs in {settings.workspace}",
            caption="judge / person: decided by the Judge / by a person",
            header_style="bold",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            collapse_padding=True,
        )
        table.add_column("run id", no_wrap=True)
        table.add_column("started (UTC)", no_wrap=True)
        versioned = any(s["judge_versions"] for s in summaries)
        if versioned:  # which Judge versions judged the run's claims (`claimcourt learn` makes new ones)
            table.add_column("judged by")
        for name in ("claims", "judge", "waiting", "person"):
            table.add_column(name, justify="right", min_width=len(name))
        extra = any(s["failed"] or s["not_run"] for s in summaries)
        working = any(s["workers_alive"] for s in summaries)
        if working:
            table.add_column("workers", justify="right", min_width=7)
        if extra:
            table.add_column("failed", justify="right", min_width=6)
            table.add_column("not run", justify="right", min_width=7)
        for s in summaries:
            cells = [
                s["run_id"],
                _when(s["created_at"]),
                *([", ".join(f"{v} x{n}" for v, n in s["judge_versions"].items())] if versioned else []),
                str(s["claims"]),
                str(s["decided_by_judge"]),
                f"[yellow]{s['waiting']}[/]" if s["waiting"] else "0",
                str(s["decided_by_human"]),
            ]
            if working:
                cells.append(str(s["workers_alive"]))
            if extra:
                cells += [f"[red]{s['failed']}[/]" if s["failed"] else "0", str(s["not_run"])]
            table.add_row(*cells)
        console.print(table)
