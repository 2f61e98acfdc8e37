from __future__ import annotations

import asyncio
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import TextColumn
from rich.table import Table

from claimcourt.cli.common import (
    ChromaUrlOpt,
    ConfigOpt,
    ProfileOpt,
    StorageOpt,
    WorkspaceOpt,
    claimcourt_command,
    console,
    err_console,
    progress_bar,
    settings_from,
    user_errors,
)
from claimcourt.errors import DatabaseGoneError
from claimcourt.paths import check_output_file

if TYPE_CHECKING:  # the runner, the graph and the store load when a batch runs, not for --help
    from claimcourt.config import Settings
    from claimcourt.deps import Deps
    from claimcourt.jobs.runner import Progress as RunProgress
    from claimcourt.jobs.runner import RunSummary


def show_summary(summary: RunSummary, workspace: Path | None = None) -> None:
    counts = summary.counts
    if summary.already_complete:
        console.print(
            f"Run {summary.run_id} is already complete: all {counts.total} claims were finished "
            "(by other workers). Nothing to do.",
            highlight=False,
        )
    table = Table(title=f"run {summary.run_id}", show_header=True, header_style="bold")
    table.add_column("")
    table.add_column("claims", justify="right")
    table.add_row("decided by the Judge", str(counts.judge))
    table.add_row("waiting for a person", str(counts.pending_review))
    table.add_row("decided by a person", str(counts.human))
    if counts.error:
        table.add_row("[red]failed[/]", str(counts.error))
    if counts.queued:
        table.add_row("not yet run", str(counts.queued))
    table.add_row("[bold]in this run[/]", f"[bold]{counts.total}[/]")
    console.print(table)
    p = summary.progress
    console.print(
        f"{p.done - p.skipped} claims debated in {p.elapsed_s:.1f}s ({p.rate:.1f} claims/s)"
        + (f", {p.skipped} already finished" if p.skipped else ""),
        highlight=False,
    )
    console.print(f"results: {summary.results_csv}\ndebates: {summary.results_jsonl}", highlight=False)
    if summary.first_error:
        err_console.print(f"[yellow]first failure:[/] {summary.first_error}", highlight=False)
    if summary.taken_over:
        shown = ", ".join(summary.taken_over[:5]) + (", ..." if len(summary.taken_over) > 5 else "")
        err_console.print(
            f"[yellow]{len(summary.taken_over)} claims were taken over by another worker[/] after this one's "
            f"lease on them ran out (raise worker_lease_s if this worker stalls); their outcome here was not "
            f"recorded: {shown}",
            highlight=False,
        )
    if counts.pending_review:
        where = f" --workspace {shlex.quote(str(workspace))}" if workspace is not None else ""
        console.print(
            f"Review the waiting claims with: {claimcourt_command()} review --run-id "
            f"{shlex.quote(summary.run_id)}{where}",
            highlight=False,
            soft_wrap=True,
        )


def resume_command(settings: Settings, file: Path, run_id: str, output: Path | None) -> str:
    """The command that picks a stopped run up where it stopped (with the settings it must keep; a
    storage URL's password shown as ***, to be given again)."""
    from claimcourt.config import DEFAULT_WORKSPACE, Settings
    from claimcourt.urls import shown_url

    parts = [claimcourt_command(), "run", shlex.quote(str(file)), "--run-id", shlex.quote(run_id)]
    if settings.workspace != DEFAULT_WORKSPACE:
        parts += ["--workspace", shlex.quote(str(settings.workspace))]
    if settings.profile != "offline":
        parts += ["--profile", settings.profile]
    if settings.calibration is not None:
        parts += ["--threshold", f"calibrated:{settings.calibration}"]
    elif settings.threshold != Settings.model_fields["threshold"].default:
        parts += ["--threshold", str(settings.threshold)]
    if settings.audit_rate:
        parts += ["--audit-rate", str(settings.audit_rate)]
    if output is not None:
        parts += ["-o", shlex.quote(str(output))]
    if settings.storage_url:
        parts += ["--storage-url", shlex.quote(shown_url(settings.storage_url))]
    return " ".join(parts)


def execute_run(
    settings: Settings,
    file: Path,
    *,
    run_id: str,
    output: Path | None,
    limit: int | None,
    id_col: str | None = None,
    text_col: str | None = None,
    deps: Deps | None = None,
) -> RunSummary:
    """Run a batch with a live progress bar; Ctrl-C stops cleanly and says how to resume."""
    from claimcourt.jobs.runner import Runner
    from claimcourt.tables import ClaimTable

    table = ClaimTable(file, id_col=id_col, text_col=text_col)
    if output is not None:
        check_output_file(output)  # before validating a large file, and long before its results are written
        check_output_file(output.with_suffix(".jsonl"))
    rows = table.validate()  # before the progress bar, so a bad file prints only its error
    with progress_bar(
        "debating",
        TextColumn("{task.fields[rate]:.1f} claims/s"),
        TextColumn("review: {task.fields[review]}"),
        eta=True,
    ) as bar:
        task = bar.add_task("run", total=min(rows, limit) if limit else rows, rate=0.0, review=0)

        def advance(progress: RunProgress) -> None:
            bar.update(
                task,
                completed=progress.done,
                total=progress.total,
                rate=progress.rate,
                review=progress.pending_review,
            )

        runner = Runner(settings, deps=deps, on_progress=advance)
        try:
            summary = asyncio.run(runner.run(table, run_id=run_id, output=output, limit=limit, rows=rows))
        except KeyboardInterrupt:
            bar.stop()
            err_console.print(
                "[yellow]Stopped.[/] Finished claims are saved. Resume with: "
                + resume_command(runner.settings, file, run_id, output),
                highlight=False,
                soft_wrap=True,
            )
            raise typer.Exit(130) from None
        except DatabaseGoneError as exc:
            resume = resume_command(runner.settings, file, run_id, output)
            raise DatabaseGoneError(f"{exc.message}. Once it is back, resume with: {resume}") from None
    return summary


def run(
    claims: Annotated[Path, typer.Argument(help="CSV or Parquet file of claims (id and text columns).")],
    *,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Results CSV (a .jsonl of full debates goes beside it)."),
    ] = None,
    run_id: Annotated[str | None, typer.Option(help="Run id; reuse one to resume a stopped run.")] = None,
    threshold: Annotated[
        str | None,
        typer.Option(
            help="Judge confidence below this goes to a person (default 0.70); 'calibrated' uses the latest "
            "saved calibration, 'calibrated:NAME' a named one (see `claimcourt calibrate`)."
        ),
    ] = None,
    audit_rate: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Also send this random share of the auto-decided claims to a person."),
    ] = None,
    audit_seed: Annotated[
        int | None, typer.Option(min=0, help="Seed of the audit draw (default: a random one, recorded in the run).")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N claims.")] = None,
    max_concurrency: Annotated[int | None, typer.Option(min=1, help="Claims debated at once.")] = None,
    id_col: Annotated[str | None, typer.Option(help="Id column (default: id, doc_id, claim_id, patent_id).")] = None,
    text_col: Annotated[str | None, typer.Option(help="Text column (default: text, claim, claim_text).")] = None,
    gpu_memory: Annotated[
        str | None,
        typer.Option(help="GPU memory budget for the hf profile's batches, e.g. 22GiB for a 24 GB card."),
    ] = None,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
    profile: ProfileOpt = None,
    chroma_url: ChromaUrlOpt = None,
    storage_url: StorageOpt = None,
    endpoint_url: Annotated[
        str | None,
        typer.Option("--endpoint-url", help="The endpoint profile's server, e.g. http://gpu-node:8000/v1."),
    ] = None,
) -> None:
    """Debate every claim of a batch; low-confidence verdicts wait for a person."""
    from claimcourt.jobs.runner import default_run_id

    with user_errors():
        settings = settings_from(
            workspace=workspace,
            config=config,
            profile=profile,
            threshold=threshold,
            audit_rate=audit_rate,
            audit_seed=audit_seed,
            max_concurrency=max_concurrency,
            hf={"gpu_memory": gpu_memory},
            retrieval={"chroma_url": chroma_url},
            storage_url=storage_url,
            endpoint={"url": endpoint_url},
        )
        chosen_run_id = run_id or default_run_id(claims)
        summary = execute_run(
            settings,
            claims,
            run_id=chosen_run_id,
            output=output,
            limit=limit,
            id_col=id_col,
            text_col=text_col,
        )
        show_summary(summary, workspace)
