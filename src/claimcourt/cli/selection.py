"""`claimcourt select`: uncertainty sampling, the step that picks which claims go to debate.

(Named selection.py so that it never shadows the standard library's `select`.)"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from claimcourt.cli.common import (
    ChromaUrlOpt,
    ConfigOpt,
    WorkspaceOpt,
    claimcourt_command,
    console,
    err_console,
    progress_bar,
    settings_from,
    user_errors,
)
from claimcourt.display import as_text, markup, one_line
from claimcourt.paths import check_output_file

if TYPE_CHECKING:  # the embedder and the offline Judge load when a pool is scored, not for --help
    from claimcourt.eval.selection import Selection


def show_selection(selection: Selection, output: Path, *, wanted: int, shown: int = 10) -> None:
    table = Table(title=f"most uncertain claims (top {min(shown, len(selection.picked))})", header_style="bold")
    table.add_column("id")
    table.add_column("p_green", justify="right")
    table.add_column("u", justify="right")
    table.add_column("claim")
    for c in selection.picked[:shown]:
        excerpt = one_line(c.text)
        shown_text = excerpt[:80] + ("…" if len(excerpt) > 80 else "")
        table.add_row(markup(c.id), f"{c.p_green:.3f}", f"{c.u:.3f}", markup(shown_text))
    console.print(table)
    picked = selection.picked
    span = f" (u from {picked[-1].u:.3f} to {picked[0].u:.3f})" if picked else ""
    console.print(
        f"Picked [bold]{len(picked)}[/] of {selection.pool_size} claims{span}"
        + (f"; {selection.skipped_similar} near-duplicates skipped" if selection.skipped_similar else "")
        + f". Written to {markup(str(output))}",
        highlight=False,
    )
    if len(picked) < wanted:
        reason = "the pool is smaller" if selection.pool_size < wanted else "the rest are near-duplicates"
        err_console.print(f"[yellow]only {len(picked)} of the {wanted} wanted claims:[/] {reason}", highlight=False)
    console.print(as_text(f"Debate them with: {claimcourt_command()} run {output}"), highlight=False)


def select(
    pool: Annotated[Path, typer.Argument(help="CSV or Parquet file of unlabelled claims (id and text columns).")],
    *,
    n: Annotated[int, typer.Option("--n", "-n", min=1, help="How many claims to pick.")] = 100,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="CSV of picked claims (default <pool>-uncertain.csv).")
    ] = None,
    diverse: Annotated[bool, typer.Option("--diverse", help="Skip near-duplicates of claims already picked.")] = False,
    max_similarity: Annotated[
        float,
        typer.Option(
            min=-1.0, max=1.0, help="With --diverse: cosine similarity above which claims are near-duplicates."
        ),
    ] = 0.95,
    id_col: Annotated[str | None, typer.Option(help="Id column (default: id, doc_id, claim_id, patent_id).")] = None,
    text_col: Annotated[str | None, typer.Option(help="Text column (default: text, claim, claim_text).")] = None,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
    chroma_url: ChromaUrlOpt = None,
) -> None:
    """Pick the claims the offline Judge is least sure about (u = 1 - 2|p_green - 0.5|), highest first."""
    from claimcourt.deps import build_deps
    from claimcourt.eval.selection import OfflineJudgeScorer, select_uncertain, write_selection
    from claimcourt.tables import ClaimTable

    with user_errors():
        settings = settings_from(
            workspace=workspace, config=config, profile="offline", retrieval={"chroma_url": chroma_url}
        )
        table = ClaimTable(pool, id_col=id_col, text_col=text_col)
        target = output or Path(f"{pool.stem}-uncertain.csv")
        check_output_file(target)
        total = table.validate()  # a bad row at the end stops us before the pool is embedded
        scorer = OfflineJudgeScorer(build_deps(settings))
        with progress_bar("scoring the pool", rate="claims/s", eta=True) as bar:
            task = bar.add_task("score", total=total)
            selection = select_uncertain(
                table,
                scorer,
                n=n,
                diverse=diverse,
                max_similarity=max_similarity,
                # A chunk per embedding batch: the count moves with each batch, at no cost in speed.
                chunk_size=settings.retrieval.batch_size,
                on_progress=lambda done: bar.update(task, completed=done),
            )
        write_selection(target, selection)
        show_selection(selection, target, wanted=n)
