"""`claimcourt calibrate`: a threshold with a guarantee, from people's decisions or a gold file."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from claimcourt.cli.common import (
    ConfigOpt,
    WorkspaceOpt,
    claimcourt_command,
    console,
    err_console,
    settings_from,
    user_errors,
)
from claimcourt.errors import InputError, RunStateError

if TYPE_CHECKING:  # numpy and the evaluation load when a threshold is chosen, not for --help
    from claimcourt.eval.calibration_set import CalibrationSet
    from claimcourt.eval.guarantee import GuaranteedThreshold

JSON_KEYS = ("threshold", "alpha", "delta", "n", "coverage", "agreement", "agreement_bound")


def gather(settings: Any, run_ids: list[str], results: Path | None, gold: Path | None) -> CalibrationSet:
    from claimcourt.eval.calibration_set import current_judge, from_gold, from_runs
    from claimcourt.eval.data import load_eval_set, read_gold
    from claimcourt.store import existing_store

    if run_ids and (results or gold):
        raise InputError("give either --run-id (people's decisions) or --results with --gold, not both")
    if results is not None or gold is not None:
        if results is None or gold is None:
            raise InputError("--results and --gold go together")
        return from_gold(load_eval_set(results, read_gold(gold)))
    if not run_ids:
        raise InputError("give --run-id RUN (repeatable) to learn from people's decisions, or --results R --gold G")
    store = existing_store(settings)
    if store is None:
        raise RunStateError(f"workspace {settings.workspace} has no runs")
    with store:
        return from_runs(store.ledger, run_ids, current_judge(settings))


def as_json(result: GuaranteedThreshold, found: CalibrationSet, name: str | None) -> dict[str, Any]:
    fields = asdict(result)
    out = {key: fields[key] for key in JSON_KEYS}
    out.update(
        name=name,
        total=result.total,
        needed_more=result.needed_more,
        audits=found.audits,
        routed=found.routed,
        sentence=result.sentence(),
    )
    return out


def show(result: GuaranteedThreshold, found: CalibrationSet, saved: Path | None, name: str | None) -> None:
    console.print(result.sentence(), highlight=False, soft_wrap=True)
    if result.threshold is not None:
        assert result.agreement is not None and result.agreement_bound is not None and result.coverage is not None
        console.print(
            f"threshold {result.threshold:.4f} · guaranteed agreement >= {result.agreement_bound:.3f} "
            f"(observed {result.agreement:.3f}) · coverage {result.coverage:.1%} · n {result.n} of {result.total}",
            highlight=False,
        )
    if found.audits or found.routed:
        console.print(
            f"from {found.audits} audit claims and {found.routed} routed claims in the audit sample"
            + (
                f" ({found.routed_left_out} other routed claims left out: see README, selection bias)"
                if found.routed_left_out
                else ""
            ),
            highlight=False,
        )
    for note in found.notes:
        err_console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
    if saved is not None:
        console.print(
            f"saved as calibration '{name}' ({saved}); use it with: {claimcourt_command()} run FILE "
            f"--threshold calibrated:{name}",
            highlight=False,
            soft_wrap=True,
        )


def calibrate(
    *,
    run_id: Annotated[
        list[str] | None, typer.Option("--run-id", help="A run whose human decisions calibrate (repeatable).")
    ] = None,
    results: Annotated[Path | None, typer.Option("--results", help="A results CSV, with --gold.")] = None,
    gold: Annotated[Path | None, typer.Option("--gold", help="Gold labels (id, label) for --results.")] = None,
    alpha: Annotated[float, typer.Option(min=0.001, max=0.999, help="Tolerated disagreement with people.")] = 0.10,
    delta: Annotated[float, typer.Option(min=0.001, max=0.999, help="Chance the guarantee may fail.")] = 0.10,
    min_n: Annotated[int, typer.Option(min=1, help="Calibration claims needed at or above the threshold.")] = 30,
    name: Annotated[str | None, typer.Option(help="Save under this name (default cal-<time>).")] = None,
    save: Annotated[bool, typer.Option("--save/--no-save", help="Save the calibration in the workspace.")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Choose the threshold so that auto-decided labels agree with people at least 1 - alpha of the time,
    with confidence 1 - delta (fixed-sequence testing, Clopper-Pearson)."""
    from claimcourt.eval.calibration_set import require_claims
    from claimcourt.eval.calibrations import check_name, default_name, save_calibration
    from claimcourt.eval.guarantee import choose_threshold

    with user_errors():
        settings = settings_from(workspace=workspace, config=config)
        chosen_name = check_name(name) if name is not None else default_name()
        found = gather(settings, list(run_id or []), results, gold)
        require_claims(found)
        confidence, agrees = found.arrays()
        result = choose_threshold(confidence, agrees, alpha=alpha, delta=delta, min_n=min_n)
        saved = save_calibration(settings.workspace, chosen_name, result, found.sources) if save else None
        if json_out:
            typer.echo(json.dumps(as_json(result, found, chosen_name if saved else None), indent=2))
            return
        show(result, found, saved, chosen_name if saved else None)
