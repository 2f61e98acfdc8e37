"""`claimcourt review`: people taking over from the Judge, in the full-screen app or from a spreadsheet."""

from __future__ import annotations

import asyncio
import getpass
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from claimcourt.cli.common import (
    ConfigOpt,
    WorkspaceOpt,
    claimcourt_command,
    console,
    err_console,
    progress_bar,
    settings_from,
    user_errors,
)
from claimcourt.display import markup
from claimcourt.errors import InputError, RunStateError, UsageError
from claimcourt.vocab import ClaimStatus, Order

if TYPE_CHECKING:  # the desk, the graph and the app (Textual) load only when a session starts
    from claimcourt.config import Settings
    from claimcourt.review.bulk import BulkDecision, BulkPlan, BulkResult
    from claimcourt.review.tui.session import SessionSummary

RunIdOpt = Annotated[
    str | None, typer.Option("--run-id", help="The run (default: the only run with claims in question).")
]
ReviewerOpt = Annotated[
    str | None,
    typer.Option("--reviewer", help="Your name, recorded with every decision (default: your login name)."),
]


def default_reviewer() -> str:
    try:
        return getpass.getuser() or "reviewer"
    except Exception:  # no login name in some containers
        return "reviewer"


@dataclass(frozen=True)
class Asked:
    """The options the person gave, so every hint repeats them."""

    reviewer: str | None
    workspace: Path | None
    config: Path | None
    blind: bool
    second_opinion: bool
    order: Order

    def command(self, run_id: str) -> str:
        parts = ["claimcourt", "review", "--run-id", shlex.quote(run_id)]
        if self.reviewer:
            parts += ["--reviewer", shlex.quote(self.reviewer)]
        if self.workspace is not None:
            parts += ["--workspace", shlex.quote(str(self.workspace))]
        if self.config is not None:
            parts += ["--config", shlex.quote(str(self.config))]
        if self.blind:
            parts.append("--blind")
        if self.second_opinion:
            parts.append("--second-opinion")
        if self.order != "confidence":
            parts += ["--order", self.order]
        return " ".join(parts)


def nothing_waiting(settings: Settings, run_id: str | None, *, second_opinion: bool = False) -> None:
    where = f"run '{run_id}'" if run_id else f"workspace {settings.workspace}"
    if second_opinion:
        console.print(f"Nothing needs a second opinion in {markup(where)}: no claim has a decision by a person yet.")
    else:
        console.print(f"[green]Nothing is waiting for a person in {markup(where)}.[/] Every claim has a label.")


def review(
    *,
    run_id: RunIdOpt = None,
    reviewer: ReviewerOpt = None,
    blind: Annotated[
        bool,
        typer.Option(
            "--blind",
            help="Hide the Judge's verdict until you have decided; with --from: the people did not see it.",
        ),
    ] = False,
    shown: Annotated[
        bool, typer.Option("--shown", help="With --from: the people saw the Judge's labels when they decided.")
    ] = False,
    reveal_audits: Annotated[
        bool,
        typer.Option("--reveal-audits", help="Show the Judge's verdict on audit claims too (blind by default)."),
    ] = False,
    order: Annotated[
        Order, typer.Option("--order", help="confidence: lowest Judge confidence first | file: input order.")
    ] = "confidence",
    second_opinion: Annotated[
        bool,
        typer.Option("--second-opinion", help="Review claims a person already decided, as a second reviewer."),
    ] = False,
    from_file: Annotated[
        Path | None,
        typer.Option("--from", help="Bulk decisions from a CSV with columns id,label[,note,reviewer]."),
    ] = None,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Decide the claims waiting for a person: a full-screen app, one key per claim, or in bulk from a sheet."""
    from claimcourt.review.bulk import read_decisions
    from claimcourt.review.queries import choose_run
    from claimcourt.store import existing_store

    with user_errors():
        check_seen(from_file, blind=blind, shown=shown)
        settings = settings_from(workspace=workspace, config=config, audit_blind=False if reveal_audits else None)
        asked = Asked(reviewer, workspace, config, blind, second_opinion, order)
        name = (reviewer or "").strip() or default_reviewer()
        decisions = read_decisions(from_file) if from_file is not None else None
        store = existing_store(settings)
        if store is None:
            if run_id is not None:
                raise RunStateError(f"unknown run id '{run_id}' (workspace {settings.workspace} has no runs)")
            nothing_waiting(settings, None)
            return
        ledger = store.ledger
        try:
            status, what = (
                (ClaimStatus.HUMAN, "decided by a person")
                if second_opinion
                else (ClaimStatus.PENDING_REVIEW, "waiting")
            )
            chosen = choose_run(ledger, run_id, status=status, what=what)
        finally:
            store.close()
        if chosen is None:
            nothing_waiting(settings, None, second_opinion=second_opinion)
            return
        if decisions is not None:
            assert from_file is not None
            result = asyncio.run(
                _bulk(settings, chosen, decisions, from_file, reviewer=name, blind=blind, second_opinion=second_opinion)
            )
            if result is not None and not result.plan.ok:
                raise typer.Exit(2)
            return
        require_terminal()  # before the desk opens: nothing to draw into a pipe
        _interactive(settings, chosen, name, asked)


def check_seen(from_file: Path | None, *, blind: bool, shown: bool) -> None:
    """A decisions sheet must say whether its people saw the Judge's labels: the anchoring comparison
    (agreement with the Judge, shown vs blind) depends on it, so there is no silent default."""
    if from_file is None:
        if shown:
            raise InputError("--shown says what the people of a --from sheet saw; the app records it itself")
        return
    if blind and shown:
        raise InputError("--blind and --shown contradict each other: give one")
    if not blind and not shown:
        raise InputError(
            f"review --from {from_file}: say whether the people saw the Judge's labels when they filled it in: "
            "--shown (they did) or --blind (they did not)"
        )


def require_terminal() -> None:
    """The full-screen app needs a terminal on both ends: drawn into a pipe it would never exit."""
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("review needs a terminal: use `review --from SHEET` or `claimcourt serve`")


def _interactive(settings: Settings, run_id: str, reviewer: str, asked: Asked) -> None:
    from claimcourt.review.desk import ReviewDesk
    from claimcourt.review.tui.app import run_review
    from claimcourt.review.tui.session import Said, Session

    async def session() -> SessionSummary | None:
        async with ReviewDesk(settings, run_id, on_wait=lambda msg: console.print(f"[yellow]{markup(msg)}[/]")) as desk:
            fixed = await desk.reconcile()
            if not desk.queue(order=asked.order, second_opinion=asked.second_opinion, reviewer=reviewer):
                nothing_waiting(settings, run_id, second_opinion=asked.second_opinion)
                return None
            greeting = Said(f"{fixed} claim(s) set right from their threads after an interrupted session", "warn")
            return await run_review(
                Session(
                    desk, reviewer=reviewer, blind=asked.blind, order=asked.order, second_opinion=asked.second_opinion
                ),
                greeting=greeting if fixed else None,
            )

    try:
        summary = asyncio.run(session())
    except KeyboardInterrupt:
        summary = None
        err_console.print(f"[yellow]Stopped.[/] Every decision made is saved. Resume with: {asked.command(run_id)}")
        raise typer.Exit(130) from None
    if summary is None:
        return
    show_session_summary(run_id, summary, asked)
    if summary.interrupted:
        raise typer.Exit(130)


def show_session_summary(run_id: str, summary: SessionSummary, asked: Asked) -> None:
    console.rule("[bold]session over")
    parts = [f"[bold]{summary.decided}[/] decided"]
    if summary.revised:
        parts.append(f"{summary.revised} revised")
    if summary.undone:
        parts.append(f"{summary.undone} undone")
    if summary.skipped:
        parts.append(f"{len(summary.skipped)} skipped")
    if summary.decided_elsewhere:
        parts.append(f"{summary.decided_elsewhere} decided meanwhile by another session")
    said = ", ".join(parts) + (" this session, all saved." if summary.interrupted else ". Every decision is saved.")
    console.print(("Stopped. " if summary.interrupted else "") + said, highlight=False)
    if summary.waiting_in_run:
        console.print(
            f"[bold]{summary.waiting_in_run}[/] claim(s) still wait in run {markup(run_id)}. "
            f"Continue with: {markup(asked.command(run_id))}",
            highlight=False,
            soft_wrap=True,
        )
    else:
        console.print(
            f"[green]No claim waits in run {markup(run_id)} any more.[/] Export the labels with: "
            f"{markup(claimcourt_command())} export --run-id {markup(run_id)} -o gold.csv",
            highlight=False,
        )


async def _bulk(
    settings: Settings,
    run_id: str,
    decisions: list[BulkDecision],
    path: Path,
    *,
    reviewer: str,
    blind: bool,
    second_opinion: bool,
) -> BulkResult | None:
    from claimcourt.review.bulk import BulkResult, apply_decisions, plan_decisions
    from claimcourt.review.desk import ReviewDesk

    async with ReviewDesk(settings, run_id, on_wait=lambda msg: err_console.print(f"[yellow]{markup(msg)}[/]")) as desk:
        await desk.reconcile()
        plan = plan_decisions(
            desk, decisions, reviewer=reviewer, second_opinion=second_opinion, verdict_shown=not blind
        )
        if not plan.ok:
            report_rejected(plan, path, run_id)
            return BulkResult(plan)
        with progress_bar("applying decisions") as bar:
            task = bar.add_task("apply", total=len(plan.to_apply))
            result = await apply_decisions(
                desk,
                plan,
                reviewer=reviewer,
                verdict_shown=not blind,
                second_opinion=second_opinion,
                on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    kind = "second opinions" if second_opinion else "decisions"
    console.print(
        f"Applied [bold]{len(result.outcomes)}[/] {kind} from {markup(str(path))} to run {markup(run_id)}"
        + (f" ({result.overrides} overrule the Judge)" if result.overrides else "")
        + (f"; {len(plan.already_applied)} were already applied" if plan.already_applied else "")
        + ".",
        highlight=False,
    )
    console.print(
        f"[bold]{result.waiting_after}[/] claim(s) still wait for a person in run {markup(run_id)}.", highlight=False
    )
    return result


def report_rejected(plan: BulkPlan, path: Path, run_id: str) -> None:
    table = Table(
        title=f"{markup(str(path))}: decisions that cannot be applied to run {markup(run_id)}", title_justify="left"
    )
    table.add_column("row", justify="right")
    table.add_column("id")
    table.add_column("problem")
    for decision in plan.unknown:
        table.add_row(str(decision.row), markup(decision.claim_id), f"unknown id: not in run {markup(run_id)}")
    for decision, why in [*plan.not_waiting, *plan.refused]:
        table.add_row(str(decision.row), markup(decision.claim_id), markup(why))
    err_console.print(table)
    refused = ""
    if plan.refused:
        refused = f", {len(plan.refused)} refused by the review policy (add a note column saying why)"
    err_console.print(
        f"[bold red]error:[/] {len(plan.unknown)} unknown and {len(plan.not_waiting)} not-waiting id(s){refused}; "
        "nothing was applied. Fix or remove those rows and run again.",
        highlight=False,
    )
