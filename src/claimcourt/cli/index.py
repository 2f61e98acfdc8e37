from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import TextColumn

from claimcourt.cli.common import (
    ChromaUrlOpt,
    ConfigOpt,
    ProfileOpt,
    WorkspaceOpt,
    console,
    err_console,
    progress_bar,
    settings_from,
    user_errors,
)

if TYPE_CHECKING:  # embeddings and Chroma load when a file is indexed, not for --help
    from claimcourt.jobs.index import IndexReport


def show_report(report: IndexReport) -> None:
    if report.set_aside:
        err_console.print(
            f"[yellow]The store's database could not be read:[/] it was moved to {report.set_aside} "
            "and the store was rebuilt from this file.",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"Indexed [bold]{report.rows}[/] rows from {report.file}: {report.added} added, "
        f"{report.re_embedded} re-embedded (text changed), {report.relabelled} relabelled, "
        f"{report.unchanged} unchanged. The index holds [bold]{report.total}[/] labelled claims "
        f"({report.green} green, {report.total - report.green} not green).",
        highlight=False,
    )


def index(
    file: Annotated[Path, typer.Argument(help="CSV or Parquet file of labelled claims.")],
    *,
    id_col: Annotated[str | None, typer.Option(help="Id column (default: id, doc_id, claim_id, patent_id).")] = None,
    text_col: Annotated[str | None, typer.Option(help="Text column (default: text, claim, claim_text).")] = None,
    label_col: Annotated[str | None, typer.Option(help="0/1 label column (default: label, is_green*).")] = None,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
    profile: ProfileOpt = None,
    chroma_url: ChromaUrlOpt = None,
) -> None:
    """Embed labelled claims into the workspace's vector store (idempotent: ids are keys)."""
    from claimcourt.jobs.index import index_file

    with user_errors():
        settings = settings_from(
            workspace=workspace, config=config, profile=profile, retrieval={"chroma_url": chroma_url}
        )
        with progress_bar("indexing", TextColumn("{task.fields[stage]}"), rate="claims/s", eta=True) as bar:
            task = bar.add_task("index", total=None, stage="reading the file")
            stage_now = [""]

            def advance(stage: str, done: int, total: int) -> None:
                if stage != stage_now[0]:  # a new stage: its own count, rate and time left
                    stage_now[0] = stage
                    bar.reset(task, total=total, completed=done, stage=stage)
                else:
                    bar.update(task, completed=done, total=total)

            report = index_file(
                file, settings, id_col=id_col, text_col=text_col, label_col=label_col, on_progress=advance
            )
        show_report(report)
