"""A trace for people: rich panels for the terminal, a markdown report to share.

Prompts (LLM backends) are long and mostly boilerplate, so they are folded: one line saying how long
they are in the terminal (`--show-prompts` unfolds them), a `<details>` block in markdown. What each
node's step shows comes from the per-node table (`trace.nodes.TRACED`).
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from claimcourt.display import as_text, excerpt, one_line, visible
from claimcourt.trace.nodes import traced
from claimcourt.trace.replay import Trace
from claimcourt.trace.steps import TraceStep
from claimcourt.trace.text import decided_by_name, format_duration, md_quote, numbered_label, took, verdict_line
from claimcourt.vocab import ClaimStatus, Node

__all__ = ["format_duration", "header_panel", "markdown_report", "outcome_line", "step_panel", "verdict_line"]


def step_body(step: TraceStep, *, show_prompts: bool = False) -> RenderableType:
    """A step's body in the terminal (a failed step: its error)."""
    if "error" in step.output:
        return as_text(f"failed: {step.output['error']}", style="red")
    return Group(*traced(step.node).body(step, show_prompts))


def step_panel(step: TraceStep, index: int, *, show_prompts: bool = False) -> Panel:
    subtitle = took(step) + (f" · started {step.started_at}" if step.started_at else "")
    return Panel(
        step_body(step, show_prompts=show_prompts),
        title=f"[bold]{index}. {step.node}[/]",
        title_align="left",
        subtitle=subtitle,
        subtitle_align="right",
        border_style="red" if "error" in step.output else traced(step.node).border,
    )


def header_panel(trace: Trace, *, live: bool = False) -> Panel:
    lines = Text()
    lines.append(f"claim {one_line(trace.claim_id)}", style="bold")
    lines.append(f" · run {one_line(trace.run_id)}")
    if trace.profile:
        lines.append(f" · profile {trace.profile}")
    if trace.threshold is not None:
        lines.append(f" · threshold {trace.threshold:.2f}")
    lines.append("\n" + excerpt(trace.state.text, 600))
    return Panel(lines, title="[bold]live debate[/]" if live else "[bold]replayed debate[/]", title_align="left")


def outcome_line(trace: Trace) -> str:
    state = trace.state
    if trace.status == ClaimStatus.ERROR:
        return f"failed: {one_line(trace.error) or 'unknown error'}"
    waiting = trace.steps and trace.steps[-1].output.get("status") == "waiting"
    if state.decided_by == ClaimStatus.PENDING_REVIEW or waiting:
        return f"waiting for a person: claimcourt review --run-id {one_line(trace.run_id)}"
    if state.final_label is None:
        pending = ", ".join(trace.not_yet_run) or "the rest"
        return f"not finished: {pending} not yet run"
    return f"label {numbered_label(state.final_label)}, decided by {decided_by_name(state.decided_by)}"


# -- markdown --------------------------------------------------------------------------------------


def _md_step(step: TraceStep, index: int) -> list[str]:
    lines = [f"## {index}. {step.node}", "", f"*{took(step)}*"]
    if step.started_at:
        lines[-1] += f" · started {step.started_at}"
    failed = [f"**Failed:** {step.output['error']}"] if "error" in step.output else None
    return [*lines, "", *(failed or traced(step.node).markdown(step)), ""]


def markdown_report(trace: Trace) -> str:
    meta = [f"run `{trace.run_id}`"]
    if trace.profile:
        meta.append(f"profile `{trace.profile}`")
    if trace.threshold is not None:
        meta.append(f"threshold {trace.threshold:.2f}")
    lines = [
        f"# Debate on claim `{trace.claim_id}`",
        "",
        " · ".join(meta),
        "",
        md_quote(trace.state.text),
        "",
        f"**Outcome:** {outcome_line(trace)}",
        "",
    ]
    total = sum(step.duration_ms or 0.0 for step in trace.steps if step.node != Node.HUMAN_REVIEW)
    lines += [f"{len(trace.steps)} steps; machine time {format_duration(total)}.", ""]
    for index, step in enumerate(trace.steps, 1):
        lines += _md_step(step, index)
    # Data (claim text, ids, notes, model output) reaches this report unescaped: make its controls visible.
    return visible("\n".join(lines).rstrip() + "\n")
