"""`claimcourt review`, `pending`, `export` and `agreement`: people taking over from the Judge."""

from __future__ import annotations

import asyncio
import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from claimcourt.cli.common import (
    ConfigOpt,
    WorkspaceOpt,
    console,
    err_console,
    progress_bar,
    settings_from,
    user_errors,
)
from claimcourt.cli.review_ui import KeyReader, ReviewSession, SessionSummary
from claimcourt.config import Settings
from claimcourt.display import as_text, markup, one_line
from claimcourt.errors import RunStateError
from claimcourt.review.agreement import Agreement, agreement_report
from claimcourt.review.bulk import BulkDecision, BulkPlan, BulkResult, apply_decisions, plan_decisions, read_decisions
from claimcourt.review.desk import Order, ReviewDesk
from claimcourt.review.export import check_output, export_gold, export_training
from claimcourt.review.store import ReviewStore
from claimcourt.workspace import Ledger, LedgerClaim, existing_ledger

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


def choose_run(ledger: Ledger, run_id: str | None, *, column: str, what: str) -> str | None:
    """The given run (checked), else the only run with claims in `column`; None when no run has any."""
    if run_id is not None:
        ledger.run(run_id)
        return run_id
    runs = [r for r in ledger.runs() if (r[column] or 0) > 0]
    if not runs:
        return None
    if len(runs) > 1:
        listed = ", ".join(f"{r['run_id']} ({r[column]})" for r in runs)
        raise RunStateError(f"several runs have claims {what}: {listed}; choose one with --run-id")
    return str(runs[0]["run_id"])


def nothing_waiting(settings: Settings, run_id: str | None, *, second_opinion: bool = False) -> None:
    where = f"run '{run_id}'" if run_id else f"workspace {settings.workspace}"
    if second_opinion:
        console.print(f"Nothing needs a second opinion in {markup(where)}: no claim has a decision by a person yet.")
    else:
        console.print(f"[green]Nothing is waiting for a person in {markup(where)}.[/] Every claim has a label.")


# -- review ---------------------------------------------------------------------------------------
def review(
    *,
    run_id: RunIdOpt = None,
    reviewer: ReviewerOpt = None,
    blind: Annotated[
        bool,
        typer.Option("--blind", help="Hide the Judge's verdict until you have decided (recorded with the decision)."),
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
    """Decide the claims waiting for a person: one key per claim, or in bulk from a spreadsheet."""
    with user_errors():
        settings = settings_from(workspace=workspace, config=config, audit_blind=False if reveal_audits else None)
        name = (reviewer or "").strip() or default_reviewer()
        decisions = read_decisions(from_file) if from_file is not None else None
        ledger = existing_ledger(settings)
        if ledger is None:
            if run_id is not None:
                raise RunStateError(f"unknown run id '{run_id}' (workspace {settings.workspace} has no runs)")
            nothing_waiting(settings, None)
            return
        try:
            column, what = ("human", "decided by a person") if second_opinion else ("pending_review", "waiting")
            chosen = choose_run(ledger, run_id, column=column, what=what)
        finally:
            ledger.close()
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
        _interactive(settings, chosen, reviewer=name, blind=blind, order=order, second_opinion=second_opinion)


def _interactive(
    settings: Settings, run_id: str, *, reviewer: str, blind: bool, order: Order, second_opinion: bool
) -> None:
    summary = SessionSummary()

    async def session() -> None:
        nonlocal summary
        async with ReviewDesk(settings, run_id, on_wait=lambda msg: console.print(f"[yellow]{markup(msg)}[/]")) as desk:
            fixed = await desk.reconcile()
            if fixed:
                console.print(f"[yellow]{fixed} claim(s) set right from their threads after an interrupted session[/]")
            interactive = ReviewSession(
                desk,
                reviewer=reviewer,
                console=console,
                keys=KeyReader(console=console),
                blind=blind,
                order=order,
                second_opinion=second_opinion,
            )
            summary = interactive.summary
            if not desk.queue(order=order, second_opinion=second_opinion, reviewer=reviewer):
                nothing_waiting(settings, run_id, second_opinion=second_opinion)
                return
            await interactive.run()

    def stopped() -> typer.Exit:
        console.print()
        err_console.print(
            f"[yellow]Stopped.[/] {summary.decided} decision(s) this session, all saved. Resume with: "
            f"claimcourt review --run-id {markup(run_id)}",
            highlight=False,
        )
        return typer.Exit(130)

    try:
        asyncio.run(session())
    except KeyboardInterrupt:
        raise stopped() from None
    if summary.interrupted:
        raise stopped()
    show_session_summary(run_id, summary)


def show_session_summary(run_id: str, summary: SessionSummary) -> None:
    console.rule("[bold]session over")
    parts = [f"[bold]{summary.decided}[/] decided"]
    if summary.undone:
        parts.append(f"{summary.undone} undone")
    if summary.skipped:
        parts.append(f"{len(summary.skipped)} skipped")
    if summary.decided_elsewhere:
        parts.append(f"{summary.decided_elsewhere} decided meanwhile by another session")
    console.print(", ".join(parts) + ". Every decision is saved.", highlight=False)
    if summary.waiting_in_run:
        console.print(
            f"[bold]{summary.waiting_in_run}[/] claim(s) still wait in run {markup(run_id)}. "
            f"Continue with: claimcourt review --run-id {markup(run_id)}",
            highlight=False,
        )
    else:
        console.print(
            f"[green]No claim waits in run {markup(run_id)} any more.[/] Export the labels with: "
            f"claimcourt export --run-id {markup(run_id)} -o gold.csv",
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
    async with ReviewDesk(settings, run_id, on_wait=lambda msg: err_console.print(f"[yellow]{markup(msg)}[/]")) as desk:
        await desk.reconcile()
        plan = plan_decisions(desk, decisions, reviewer=reviewer, second_opinion=second_opinion)
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
    for decision, why in plan.not_waiting:
        table.add_row(str(decision.row), markup(decision.claim_id), markup(why))
    err_console.print(table)
    err_console.print(
        f"[bold red]error:[/] {len(plan.unknown)} unknown and {len(plan.not_waiting)} not-waiting id(s); "
        "nothing was applied. Fix or remove those rows and run again.",
        highlight=False,
    )


# -- pending --------------------------------------------------------------------------------------
def pending(
    *,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Only this run, and list its waiting claims.")] = None,
    ids: Annotated[bool, typer.Option("--ids", help="Print only the waiting claim ids, one per line.")] = False,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List and count the claims waiting for a person, per run."""
    with user_errors():
        settings = settings_from(workspace=workspace, config=config)
        ledger = existing_ledger(settings)
        if ledger is None:
            if run_id is not None:
                raise RunStateError(f"unknown run id '{run_id}' (workspace {settings.workspace} has no runs)")
            if not ids:
                nothing_waiting(settings, None)
            return
        try:
            if run_id is not None:
                ledger.run(run_id)
            runs = [r for r in ledger.runs() if run_id is None or r["run_id"] == run_id]
            if ids:
                for run in runs:
                    for claim in ledger.claims(run["run_id"], status="pending_review"):
                        console.print(as_text(claim.claim_id), highlight=False, soft_wrap=True)
                return
            waiting = sum(r["pending_review"] or 0 for r in runs)
            show_runs(runs)
            if run_id is not None and waiting:
                show_waiting_claims(ledger, run_id)
            if waiting:
                with_runs = sum(1 for r in runs if r["pending_review"])
                console.print(
                    f"[bold]{waiting}[/] claim(s) wait for a person in {with_runs} run(s). "
                    "Review them with: claimcourt review --run-id RUN",
                    highlight=False,
                )
            else:
                nothing_waiting(settings, run_id)
        finally:
            ledger.close()


def show_runs(runs: list[dict[str, Any]]) -> None:
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
            markup(run["run_id"]),
            (run["created_at"] or "")[:16].replace("T", " "),
            f"{run['threshold']:.2f}" if run["threshold"] is not None else "",
            str(run["pending_review"] or 0),
            str(run["human"] or 0),
            str(run["judge"] or 0),
            str(run["claims"] or 0),
        )
    console.print(table)


def show_waiting_claims(ledger: Ledger, run_id: str) -> None:
    table = Table(
        title=f"waiting in run {markup(run_id)}, lowest confidence first", title_justify="left", header_style="bold"
    )
    table.add_column("id", no_wrap=True)
    table.add_column("confidence", justify="right")
    table.add_column("why")
    table.add_column("claim")
    claims = list(ledger.claims(run_id, status="pending_review"))

    def confidence(claim: LedgerClaim) -> float:
        state = claim.state()
        return state.verdict.confidence if state and state.verdict and state.verdict.readable else -1.0

    claims.sort(key=confidence)
    for claim in claims:
        state = claim.state()
        conf = confidence(claim)
        text = one_line(state.text if state else "")
        table.add_row(
            markup(claim.claim_id),
            f"{conf:.2f}" if conf >= 0 else "unreadable",
            "audit" if state is not None and state.audit else "routed",
            markup(text[:90] + ("…" if len(text) > 90 else "")),
        )
    console.print(table)


# -- export ---------------------------------------------------------------------------------------
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
    with user_errors():
        settings = settings_from(workspace=workspace, config=config)
        check_output(output)
        ledger = existing_ledger(settings)
        if ledger is None:
            raise RunStateError(f"workspace {settings.workspace} has no runs to export")
        try:
            chosen = choose_run(ledger, run_id, column="claims", what="to export")
            if chosen is None:
                raise RunStateError(f"workspace {settings.workspace} has no runs to export")
            store = ReviewStore(ledger.conn)
            if merge_silver is not None:
                summary = export_training(ledger, store, chosen, output, merge_silver)
                console.print(
                    f"Wrote [bold]{summary.rows}[/] training rows to {markup(str(output))}: "
                    f"{summary.silver_rows} from {markup(str(merge_silver))}, "
                    f"of which {summary.overridden} relabelled and {summary.confirmed} confirmed by a person, "
                    f"plus {summary.added} decided claims the silver file lacks.",
                    highlight=False,
                )
            else:
                summary = export_gold(ledger, store, chosen, output, human_only=human_only)
                console.print(
                    f"Wrote [bold]{summary.rows}[/] labels of run {markup(chosen)} to {markup(str(output))}: "
                    f"{summary.by_human} decided by "
                    f"a person, {summary.by_judge} by the Judge.",
                    highlight=False,
                )
            if summary.waiting:
                console.print(
                    f"[yellow]{summary.waiting} claim(s) still wait for a person and are not in the export.[/]",
                    highlight=False,
                )
        finally:
            ledger.close()


# -- agreement ------------------------------------------------------------------------------------
def agreement(
    *,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Only this run (default: every run).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Cohen's kappa between reviewers, and between the Judge and the people, with counts."""
    with user_errors():
        settings = settings_from(workspace=workspace, config=config)
        ledger = existing_ledger(settings)
        if ledger is None:
            raise RunStateError(f"workspace {settings.workspace} has no runs")
        try:
            if run_id is not None:
                ledger.run(run_id)
            store = ReviewStore(ledger.conn)
            reviews = store.active(run_id=run_id)
        finally:
            ledger.close()
        report = agreement_report(reviews)
        if as_json:
            console.print_json(json.dumps(report.as_dict()))
            return
        if not reviews:
            console.print("No human decisions yet: nothing to compare.")
            return
        console.print(
            f"{report.decisions} human decision(s) on {report.claims} claim(s)"
            + (f" in run {markup(run_id)}" if run_id else ""),
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
        table.add_row(markup(f"{row.a} vs {row.b}"), str(row.n), str(row.agree), observed, kappa)
    return table
