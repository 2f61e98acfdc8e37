"""`claimcourt trace`: one claim's debate step by step, replayed from the checkpoints or run now."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import shlex
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from claimcourt.cli import fork as forks
from claimcourt.cli.common import (
    ChromaUrlOpt,
    ConfigOpt,
    ProfileOpt,
    WorkspaceOpt,
    claimcourt_command,
    console,
    err_console,
    settings_from,
    user_errors,
)
from claimcourt.display import as_text, one_line, visible
from claimcourt.errors import InputError
from claimcourt.paths import check_output_file
from claimcourt.vocab import ClaimStatus, Node

if TYPE_CHECKING:  # the graph, the store and the models load when a trace runs, not for --help
    from claimcourt.jobs.live import LiveTrace
    from claimcourt.state import ClaimState, HumanDecision, ReviewRequest
    from claimcourt.trace.replay import Trace
    from claimcourt.trace.steps import TraceStep

TraceFormat = Literal["rich", "json", "md"]


@contextlib.contextmanager
def _ctrl_c_stops_now() -> Iterator[None]:
    """Ctrl-C at a prompt raises at once. Under asyncio.run, SIGINT only cancels the main task, which
    cannot happen while the loop blocks on the terminal: the stop would wait for Enter."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler) if main else None
    try:
        yield
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)


def _input(ui: Console, prompt: str) -> str:
    with _ctrl_c_stops_now():
        return ui.input(prompt)


def _pause(ui: Console) -> None:
    # At the end of piped input, carry on rather than hang or fail.
    with contextlib.suppress(EOFError):
        _input(ui, "[dim]Enter for the next step…[/]")


def write_report(trace: Trace, *, format_: TraceFormat, output: Path | None) -> None:
    """JSON or markdown, to `output` or stdout (stdout then holds nothing else)."""
    from claimcourt.trace.render import markdown_report

    text = json.dumps(trace.as_json(), indent=2, ensure_ascii=False) if format_ == "json" else markdown_report(trace)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        err_console.print(as_text(f"wrote {output}"), highlight=False)
    else:
        typer.echo(text, nl=not text.endswith("\n"))


def show_trace(trace: Trace, *, show_prompts: bool, step: bool, outcome: str | None = None) -> None:
    from claimcourt.trace.render import header_panel, outcome_line, step_panel

    console.print(header_panel(trace))
    for index, one in enumerate(trace.steps, 1):
        console.print(step_panel(one, index, show_prompts=show_prompts))
        if step and index < len(trace.steps):
            _pause(console)
    console.print(Text(outcome or outcome_line(trace), style="bold"))


def ask_decision(ui: Console, reviewer: str | None, request: ReviewRequest, state: ClaimState) -> HumanDecision | None:
    """The inline review: 1 or 0 and an optional note; Enter (or end of input) leaves it waiting."""
    from claimcourt.review.policy import Situation, label_name, needs_note
    from claimcourt.review.records import judge_label
    from claimcourt.state import HumanDecision
    from claimcourt.trace.render import verdict_line

    verdict = state.verdict.model_dump(mode="json") if state.verdict else {}
    ui.print(
        Panel(
            Text(f"{request.reason}\nJudge: {verdict_line(verdict) if verdict else 'no verdict'}"),
            title="[bold yellow]a person decides[/]",
            title_align="left",
            border_style="yellow",
        )
    )
    while True:
        try:
            answer = _input(ui, "Label? [bold]1[/] green, [bold]0[/] not green, Enter leaves it waiting: ").strip()
        except EOFError:
            return None
        if answer == "":
            return None
        if answer in ("0", "1"):
            break
        ui.print(as_text(f"'{answer}' is not 0 or 1"), style="red", highlight=False)
    label = int(answer)
    # The trace shows the verdict, so the review policy's note rule applies as in every other face.
    situation = Situation(judge_label=judge_label(state), verdict_shown=True)
    required = needs_note(label, situation)
    ask = (
        f"Note ([bold]required[/]: you overrule the Judge, {label_name(situation.judge_label)} → {label_name(label)}; "
        "Enter alone leaves the claim waiting): "
        if required
        else "Note (optional): "
    )
    try:
        note = _input(ui, ask).strip() or None
    except EOFError:
        note = None
    if required and note is None:
        ui.print("No note: the claim keeps waiting for a person.", style="yellow", highlight=False)
        return None
    return HumanDecision(label=label, reviewer=reviewer, note=note, verdict_shown=True)


def _live_source(text: str | None, claim_id: str | None, from_file: Path | None) -> tuple[str, str, str]:
    """(claim id, text, where it came from) of a claim to debate now."""
    from claimcourt.jobs.live import claim_from_file, require_text, text_claim_id

    if from_file is not None:
        if claim_id is None:
            raise InputError("--from needs --id: which claim of the file to debate")
        found_id, found_text = claim_from_file(from_file, claim_id)
        return found_id, found_text, str(from_file)
    body = require_text(text or "")
    return (claim_id.strip() if claim_id and claim_id.strip() else text_claim_id(body)), body, "<text>"


def trace(
    claim_id: Annotated[str | None, typer.Argument(help="Claim id to replay from a stored run.")] = None,
    *,
    run_id: Annotated[
        str | None,
        typer.Option(help="Run holding the claim (needed when several do); with --text/--from, the new run's id."),
    ] = None,
    text: Annotated[str | None, typer.Option("--text", help="Debate this claim text now, streaming each step.")] = None,
    id_: Annotated[
        str | None, typer.Option("--id", help="Claim id for --text, or the claim to take from --from.")
    ] = None,
    from_file: Annotated[
        Path | None, typer.Option("--from", help="CSV/Parquet file holding the claim --id (debated now).")
    ] = None,
    format_: Annotated[
        TraceFormat, typer.Option("--format", "-f", help="rich (terminal), json (steps only, on stdout) or md.")
    ] = "rich",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the json/md report to this file instead of stdout.")
    ] = None,
    step: Annotated[bool, typer.Option("--step", help="Pause after each node until Enter is pressed.")] = False,
    show_prompts: Annotated[bool, typer.Option("--show-prompts", help="Unfold the LLM prompts.")] = False,
    reviewer: Annotated[
        str | None, typer.Option(help="Your name on an inline review decision (default: the login name).")
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Live only: Judge confidence below this goes to a person (default 0.70).")
    ] = None,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
    profile: ProfileOpt = None,
    chroma_url: ChromaUrlOpt = None,
    fork_at: forks.ForkAtOpt = None,
    drop_neighbour: forks.DropNeighbourOpt = None,
    advocate_text: forks.AdvocateTextOpt = None,
    skeptic_text: forks.SkepticTextOpt = None,
    fork_id: forks.ForkIdOpt = None,
) -> None:
    """Follow one debate step by step: replay a stored claim, or debate --text / --from now."""
    from claimcourt.deps import build_deps
    from claimcourt.jobs.live import LiveTrace, default_trace_run_id
    from claimcourt.trace.replay import replay

    with user_errors():
        live = text is not None or from_file is not None
        if text is not None and from_file is not None:
            raise InputError("give --text or --from, not both")
        if live and claim_id is not None:
            raise InputError("give either CLAIM_ID (replay a stored debate) or --text/--from (debate now), not both")
        if output is not None and format_ == "rich":
            raise InputError("--output needs --format json or md")
        if output is not None:
            check_output_file(output)
        if not live:
            claim_id = claim_id if claim_id is not None else id_
            if claim_id is None or not claim_id.strip():
                raise InputError("give a CLAIM_ID to replay, or --text '...' (or --id ID --from FILE) to debate now")
            settings = settings_from(workspace=workspace, config=config, profile=profile)
            edit = forks.fork_edit(fork_at, drop_neighbour, advocate_text, skeptic_text)
            fork = None
            if fork_at is not None or fork_id is not None:
                fork = forks.forked(
                    settings, claim_id.strip(), run_id=run_id, fork_at=fork_at, fork_id=fork_id, edit=edit
                )
            stored = fork.trace if fork is not None else asyncio.run(replay(settings, claim_id.strip(), run_id=run_id))
            if format_ == "rich":
                if fork is not None:
                    console.print(forks.fork_header(fork))
                outcome = forks.fork_outcome_line(fork) if fork is not None else None
                show_trace(stored, show_prompts=show_prompts, step=step, outcome=outcome)
                for line in (
                    forks.fork_outcome(settings, fork) if fork is not None else forks.fork_list(settings, stored)
                ):
                    console.print(line, highlight=False, soft_wrap=True)
            else:
                write_report(stored, format_=format_, output=output)
            return
        live_id, live_text, source = _live_source(text, id_, from_file)
        settings = settings_from(
            workspace=workspace,
            config=config,
            profile=profile,
            threshold=threshold,
            retrieval={"chroma_url": chroma_url},
        )
        run_live(
            LiveTrace(
                settings,
                build_deps(settings),
                claim_id=live_id,
                text=live_text,
                run_id=run_id or default_trace_run_id(),
                source=source,
            ),
            format_=format_,
            output=output,
            step=step,
            show_prompts=show_prompts,
            reviewer=reviewer or _login_name(),
        )


def _login_name() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers; the decision is then unnamed
        return None


def run_live(
    live: LiveTrace,
    *,
    format_: TraceFormat,
    output: Path | None,
    step: bool,
    show_prompts: bool,
    reviewer: str | None,
) -> Trace:
    from claimcourt.trace.render import format_duration, outcome_line, step_panel

    # With json/md, stdout holds only the report: progress and questions go to stderr.
    ui = console if format_ == "rich" else err_console
    shown = 0
    streaming_tokens = False

    def on_token(node: str, token: str) -> None:
        nonlocal streaming_tokens
        if format_ == "rich":
            streaming_tokens = True
            console.print(visible(token), end="", style="dim", markup=False, highlight=False)

    def on_step(one: TraceStep) -> None:
        nonlocal shown, streaming_tokens
        shown += 1
        if streaming_tokens:
            console.print()
            streaming_tokens = False
        if format_ == "rich":
            console.print(step_panel(one, shown, show_prompts=show_prompts))
        else:
            took = "waiting" if one.output.get("status") == "waiting" else format_duration(one.duration_ms)
            err_console.print(f"[green]✓[/] {one.node} ({took})", highlight=False)
        if step and one.node != Node.FINALIZE and one.output.get("status") != "waiting":
            _pause(ui)

    def decide(request: ReviewRequest, state: ClaimState) -> HumanDecision | None:
        return ask_decision(ui, reviewer, request, state)

    if format_ == "rich":
        console.print(
            Panel(
                as_text(f"claim {one_line(live.claim_id)} · run {one_line(live.run_id)} · ")
                + as_text(f"profile {live.settings.profile}\n")
                + as_text(live.text[:600] + ("…" if len(live.text) > 600 else "")),
                title="[bold]live debate[/]",
                title_align="left",
            )
        )
    try:
        result = asyncio.run(live.run(on_step=on_step, decide=decide, on_token=on_token))
    except KeyboardInterrupt:
        if streaming_tokens:
            console.print()
        err_console.print(Text("Stopped. ", style="yellow") + as_text(stopped_message(live)), soft_wrap=True)
        raise typer.Exit(130) from None
    if format_ == "rich":
        console.print(Text(outcome_line(result), style="bold"))
        console.print(
            as_text(
                f"Replay it with: {claimcourt_command()} trace {one_line(result.claim_id)} "
                f"--run-id {one_line(result.run_id)}"
            ),
            highlight=False,
            soft_wrap=True,
        )
    else:
        write_report(result, format_=format_, output=output)
    return result


def stopped_message(live: LiveTrace) -> str:
    """What a stopped live trace left saved, and how to go on: read back from the ledger, so it says
    what the other commands will say."""
    from claimcourt.store import existing_store

    store = existing_store(live.settings)
    stored = store.ledger.claim(live.run_id, live.claim_id) if store is not None else None
    if store is not None:
        store.close()
    replay_cmd = f"{claimcourt_command()} trace {shlex.quote(live.claim_id)} --run-id {shlex.quote(live.run_id)}"
    status = stored.status if stored is not None else None
    if status == ClaimStatus.HUMAN:
        state = stored.state() if stored is not None else None
        human = state.human if state is not None else None
        by = f" by {human.reviewer}" if human is not None and human.reviewer else ""
        label = f" (label {human.label}{by})" if human is not None else ""
        return f"The decision{label} is saved; claim {live.claim_id} is decided. Replay it with: {replay_cmd}"
    if status == ClaimStatus.PENDING_REVIEW:
        return (
            f"No decision was saved; claim {live.claim_id} waits for a person. Decide it with: "
            f"{claimcourt_command()} review --run-id {shlex.quote(live.run_id)}"
        )
    if status == ClaimStatus.JUDGE:
        return f"The Judge's label is saved. Replay it with: {replay_cmd}"
    return (
        f"The debate of claim {live.claim_id} stopped before the Judge: nothing was decided (replay what its "
        f"checkpoints hold with: {replay_cmd}). Debate it again with another --run-id."
    )
