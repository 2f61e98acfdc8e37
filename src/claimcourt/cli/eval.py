"""`claimcourt eval`: results against gold labels; metrics, calibration, selective prediction."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from claimcourt.cli.common import ConfigOpt, WorkspaceOpt, console, err_console, settings_from, user_errors
from claimcourt.display import as_text, markup
from claimcourt.errors import InputError
from claimcourt.paths import check_output_dir

if TYPE_CHECKING:  # numpy, sklearn and the plots load when results are evaluated, not for --help
    from claimcourt.eval.evaluate import Evaluation
    from claimcourt.eval.report import Written


def show_evaluations(evaluations: list[Evaluation]) -> None:
    from claimcourt.eval.evaluate import HEADLINE
    from claimcourt.eval.report import fmt, headline_value, left_out_notes

    table = Table(title="evaluation against gold", header_style="bold")
    table.add_column("")
    for ev in evaluations:
        table.add_column(markup(ev.name), justify="right")

    def row(label: str, cells: list[str]) -> None:
        table.add_row(label, *cells)

    arrows = {"brier": "↓", "ece": "↓"}
    for key in HEADLINE:
        row(f"{key} {arrows.get(key, '↑')}", [fmt(headline_value(ev, key)) for ev in evaluations])
    row("precision (green)", [fmt(ev.metrics["precision"]) for ev in evaluations])
    row("recall (green)", [fmt(ev.metrics["recall"]) for ev in evaluations])
    row("claims evaluated", [str(ev.data.n) for ev in evaluations])
    row(
        "confusion tn/fp/fn/tp",
        [f"{c['tn']}/{c['fp']}/{c['fn']}/{c['tp']}" for c in (ev.confusion for ev in evaluations)],
    )
    row("threshold", [fmt(ev.selective.threshold, 3) for ev in evaluations])
    row("decided by Judge / routed", [f"{ev.selective.auto_n} / {ev.selective.routed_n}" for ev in evaluations])
    row("Judge accuracy when routed", [fmt(ev.selective.routed_accuracy) for ev in evaluations])
    if any(ev.selective.final_accuracy is not None for ev in evaluations):
        row("final accuracy (with people)", [fmt(ev.selective.final_accuracy) for ev in evaluations])
    if any(ev.search is not None for ev in evaluations):
        target = next(ev.search.target for ev in evaluations if ev.search is not None)
        cells = []
        for ev in evaluations:
            s = ev.search
            if s is None or s.threshold is None:
                cells.append("none")
            else:
                ci = f" [{s.threshold_ci[0]:.3f}, {s.threshold_ci[1]:.3f}]" if s.threshold_ci else ""
                cells.append(f"{s.threshold:.3f}{ci}")
        row(f"threshold for accuracy {target:.2f}", cells)
        row(
            "  coverage there",
            [fmt(ev.search.coverage, 3) if ev.search is not None else "n/a" for ev in evaluations],
        )
    first = evaluations[0].calibrated
    row(
        f"calibrated threshold (α {first.alpha:.2f}, δ {first.delta:.2f})",
        [fmt(ev.calibrated.threshold, 4) if ev.calibrated.threshold is not None else "none" for ev in evaluations],
    )
    row(
        "  coverage / accuracy there",
        [
            f"{fmt(p.coverage, 3)} / {fmt(p.auto_accuracy, 3)}" if (p := ev.calibrated_point) is not None else "n/a"
            for ev in evaluations
        ],
    )
    row("  guaranteed agreement", [fmt(ev.calibrated.agreement_bound, 3) for ev in evaluations])
    console.print(table)
    for ev in evaluations:
        notes = [*left_out_notes(ev), f"threshold: {ev.selective.threshold_source}"]
        console.print(f"[bold]{markup(ev.name)}[/]: " + markup("; ".join(notes)), highlight=False)
        if ev.search is not None:
            for warning in ev.search.warnings:
                err_console.print(f"[yellow]warning ({markup(ev.name)}):[/] {markup(warning)}", highlight=False)


def show_written(written: Written) -> None:
    for path in written.metrics_json:
        console.print(as_text(f"metrics: {path}"), highlight=False)
    for path in written.reports:
        console.print(as_text(f"report:  {path}"), highlight=False)
    console.print(f"plots:   {len(written.plots)} PNG files beside them", highlight=False)


def eval_results(
    results: Annotated[
        list[Path], typer.Argument(help="Results CSV(s) written by `claimcourt run`; several are compared.")
    ],
    *,
    gold: Annotated[Path, typer.Option("--gold", help="CSV or Parquet file of gold labels (id and 0/1 label).")],
    id_col: Annotated[
        str | None, typer.Option(help="Id column of the gold file (default: id, doc_id, claim_id, patent_id).")
    ] = None,
    label_col: Annotated[
        str | None, typer.Option(help="Label column of the gold file (default: label, is_green*).")
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Directory for metrics.json, report.md and the PNG plots.")
    ] = Path("claimcourt-eval"),
    target_accuracy: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="Find the lowest threshold whose auto-decided accuracy reaches this."),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help="The run's threshold (default: from the run ledger, else inferred)."),
    ] = None,
    run_id: Annotated[str | None, typer.Option(help="The workspace run the results belong to.")] = None,
    bootstrap: Annotated[int, typer.Option(min=0, help="Bootstrap resamples for the threshold's interval.")] = 1000,
    alpha: Annotated[
        float, typer.Option(min=0.001, max=0.999, help="Calibrated threshold: tolerated disagreement.")
    ] = 0.10,
    delta: Annotated[
        float, typer.Option(min=0.001, max=0.999, help="Calibrated threshold: chance the guarantee fails.")
    ] = 0.10,
    min_n: Annotated[int, typer.Option(min=1, help="Calibrated threshold: claims needed at or above it.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed of the bootstrap.")] = 0,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Evaluate results against gold labels: accuracy, F1, kappa, calibration, coverage, threshold."""
    from claimcourt.eval.data import load_eval_set, read_gold
    from claimcourt.eval.evaluate import evaluate
    from claimcourt.eval.report import unique_names, write_outputs
    from claimcourt.eval.runinfo import run_threshold, stale_results

    with user_errors():
        if run_id is not None and len(results) > 1:
            raise InputError("--run-id names one run: give one results file with it")
        settings = settings_from(workspace=workspace, config=config)
        check_output_dir(out)
        gold_labels = read_gold(gold, id_col=id_col, label_col=label_col)
        names = unique_names(results)
        evaluations = []
        for path, name in zip(results, names, strict=True):
            joined = load_eval_set(path, gold_labels)
            found = run_threshold(
                joined, flag=threshold, settings=settings, run_id=run_id, configured=settings.threshold
            )
            stale = stale_results(path, settings, found.run_id) if found.run_id else None
            if stale:
                err_console.print(f"[yellow]warning:[/] {stale}", highlight=False, soft_wrap=True)
            evaluations.append(
                evaluate(
                    joined,
                    name=name,
                    threshold=found,
                    target_accuracy=target_accuracy,
                    resamples=bootstrap,
                    seed=seed,
                    alpha=alpha,
                    delta=delta,
                    min_n=min_n,
                )
            )
        show_evaluations(evaluations)
        show_written(write_outputs(evaluations, out))
