"""A trace for people: rich panels for the terminal, a markdown report to share.

Prompts (LLM backends) are long and mostly boilerplate, so they are folded: one line saying how long
they are in the terminal (`--show-prompts` unfolds them), a `<details>` block in markdown.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from claimcourt.display import as_text, excerpt, markup, one_line, visible
from claimcourt.state import Neighbour
from claimcourt.trace.replay import Trace
from claimcourt.trace.steps import TraceStep

_EXCERPT = 90
_LEADING_NUMBER = re.compile(r"^(\s*\d+)\. ")
DECIDED_BY = {"judge": "the Judge", "human": "a person", "pending_review": "nobody yet (waiting for a person)"}


def label_name(label: Any) -> str:
    if label is None:
        return "none"
    return f"{label} ({'green' if label == 1 else 'not green'})"


def format_duration(ms: float | None) -> str:
    if ms is None:
        return "–"
    if ms < 1000:
        return f"{ms:.1f} ms"
    seconds = ms / 1000
    if seconds < 120:
        return f"{seconds:.2f} s"
    minutes = seconds / 60
    if minutes < 120:
        return f"{minutes:.1f} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def _fmt(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def verdict_line(verdict: dict[str, Any]) -> str:
    if not verdict.get("readable", True):
        return f"unreadable verdict: {visible(verdict.get('unreadable_reason')) or 'no reason given'}"
    return (
        f"label {label_name(verdict.get('label'))} · p_green {_fmt(verdict.get('p_green'))} · "
        f"confidence {_fmt(verdict.get('confidence'))} · method {one_line(verdict.get('method')) or '–'}"
        + judge_version_note(verdict)
    )


def judge_version_note(verdict: dict[str, Any]) -> str:
    """' · Judge v3 (re-judged)': which fit of the offline Judge gave the verdict ('' for other Judges)."""
    version = verdict.get("judge_version")
    if version is None:
        return ""
    return f" · Judge v{version}" + (" (re-judged by learn)" if verdict.get("rejudged") else "")


def route_line(step: TraceStep) -> str:
    route = step.output.get("route")
    verdict = step.output.get("verdict") or {}
    threshold = step.input.get("threshold")
    if threshold is None:
        return f"route: {route}"
    if step.output.get("audit"):
        return (
            f"route: {route} (an audit: confidence {_fmt(verdict.get('confidence'), 2)} >= threshold "
            f"{threshold:.2f}, drawn at random for a person to check)"
        )
    compare = ">=" if route == "finalize" else "<"
    if not verdict.get("readable", True):
        return f"route: {route} (the verdict could not be read)"
    return f"route: {route} (confidence {_fmt(verdict.get('confidence'), 2)} {compare} threshold {threshold:.2f})"


def decision_line(decision: dict[str, Any]) -> str:
    parts = [f"decision: label {label_name(decision.get('label'))}"]
    parts.append(f"by {one_line(decision.get('reviewer')) or 'an unnamed reviewer'}")
    parts.append(f"at {decision.get('decided_at')}")
    parts.append("verdict shown: " + ("yes" if decision.get("verdict_shown", True) else "no (blind review)"))
    line = ", ".join(parts)
    if decision.get("note"):
        line += f"\nnote: {visible(decision['note'])}"
    return line


def _prompt_lines(step: TraceStep, show_prompts: bool) -> list[RenderableType]:
    prompt = step.input.get("prompt")
    if not prompt:
        return []
    truncated = " (the claim was truncated to fit)" if step.input.get("claim_truncated") else ""
    if not show_prompts:
        return [Text(f"prompt: {len(prompt)} characters, folded{truncated} (--show-prompts to unfold)", style="dim")]
    return [Text(f"prompt{truncated}:", style="bold"), as_text(prompt, style="dim")]


def precedent_label(neighbour: dict[str, Any]) -> str:
    """A neighbour's label, and for a person's decision whose it is (`Neighbour.provenance`)."""
    label = "green" if neighbour["label"] == 1 else "not green"
    provenance = Neighbour.model_validate(neighbour).provenance
    return f"{label} ({provenance})" if provenance else label


def step_body(step: TraceStep, *, show_prompts: bool = False) -> RenderableType:
    out, node = step.output, step.node
    parts: list[RenderableType] = []
    if "error" in out:
        return as_text(f"failed: {out['error']}", style="red")
    if node == "retrieve":
        neighbours = out.get("neighbours") or []
        if not neighbours:
            return Text("no labelled neighbours found", style="yellow")
        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for column in ("#", "id", "label", "similarity", "claim"):
            table.add_column(column, justify="right" if column in ("#", "similarity") else "left")
        for n, neighbour in enumerate(neighbours, 1):
            table.add_row(
                str(n),
                markup(str(neighbour["id"])),
                precedent_label(neighbour),
                f"{neighbour['similarity']:.3f}",
                markup(excerpt(str(neighbour["text"]), _EXCERPT)),
            )
        parts.append(table)
    elif node in ("advocate", "skeptic"):
        argument = out.get("argument") or {}
        parts.append(as_text(argument.get("text", "")))
        extras = []
        if argument.get("cues"):
            extras.append("cues: " + ", ".join(argument["cues"]))
        if argument.get("cited"):
            extras.append("cites: " + ", ".join(argument["cited"]))
        if argument.get("backend"):
            extras.append(f"backend: {argument['backend']}")
        if extras:
            parts.append(as_text(" · ".join(extras), style="dim"))
        parts.extend(_prompt_lines(step, show_prompts))
    elif node == "judge":
        verdict = out.get("verdict") or {}
        parts.append(Text(verdict_line(verdict), style="bold"))
        if verdict.get("components"):
            parts.append(Text(", ".join(f"{k} {v:.3f}" for k, v in verdict["components"].items()), style="dim"))
        if verdict.get("rationale"):
            parts.append(as_text(verdict["rationale"]))
        route_style = "yellow" if out.get("route") == "human_review" else "green"
        parts.append(Text(route_line(step), style=route_style))
        parts.extend(_prompt_lines(step, show_prompts))
    elif node == "human_review":
        parts.append(as_text(f"asked because {step.input.get('reason') or 'the Judge was unsure'}"))
        if out.get("decision"):
            parts.append(Text(decision_line(out["decision"]), style="bold"))
        else:
            parts.append(Text("waiting for a person (claimcourt review)", style="yellow"))
    elif node == "finalize":
        decided_by = DECIDED_BY.get(out.get("decided_by") or "", out.get("decided_by") or "–")
        parts.append(Text(f"final label {label_name(out.get('final_label'))}, decided by {decided_by}", style="bold"))
    return Group(*parts)


def step_panel(step: TraceStep, index: int, *, show_prompts: bool = False) -> Panel:
    took = "waited" if step.node == "human_review" else "took"
    subtitle = f"{took} {format_duration(step.duration_ms)}" + (
        f" · started {step.started_at}" if step.started_at else ""
    )
    style = {"human_review": "yellow", "finalize": "green", "judge": "cyan"}.get(step.node, "blue")
    if "error" in step.output:
        style = "red"
    return Panel(
        step_body(step, show_prompts=show_prompts),
        title=f"[bold]{index}. {step.node}[/]",
        title_align="left",
        subtitle=subtitle,
        subtitle_align="right",
        border_style=style,
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
    if trace.status == "error":
        return f"failed: {one_line(trace.error) or 'unknown error'}"
    if state.decided_by == "pending_review" or (trace.steps and trace.steps[-1].output.get("status") == "waiting"):
        return f"waiting for a person: claimcourt review --run-id {one_line(trace.run_id)}"
    if state.final_label is None:
        pending = ", ".join(trace.not_yet_run) or "the rest"
        return f"not finished: {pending} not yet run"
    decided = DECIDED_BY.get(state.decided_by or "", state.decided_by or "–")
    return f"label {label_name(state.final_label)}, decided by {decided}"


# -- markdown --------------------------------------------------------------------------------------


def _md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _md_quote(text: str) -> str:
    """A blockquote that keeps the text's line breaks, and does not turn a claim's leading "1." into a
    numbered list."""
    lines = [_LEADING_NUMBER.sub(r"\1\\. ", line.rstrip()) for line in str(text).splitlines() or [""]]
    return "  \n".join(f"> {line}" if line.strip() else ">" for line in lines)


def _md_fence(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}text\n{text}\n{fence}"


def _md_prompt(step: TraceStep) -> list[str]:
    prompt = step.input.get("prompt")
    if not prompt:
        return []
    truncated = " (claim truncated to fit)" if step.input.get("claim_truncated") else ""
    summary = f"<details><summary>Prompt ({len(prompt)} characters){truncated}</summary>"
    return ["", summary, "", _md_fence(prompt), "", "</details>"]


def _md_step(step: TraceStep, index: int) -> list[str]:
    took = "waited" if step.node == "human_review" else "took"
    lines = [f"## {index}. {step.node}", "", f"*{took} {format_duration(step.duration_ms)}*"]
    if step.started_at:
        lines[-1] += f" · started {step.started_at}"
    lines.append("")
    out = step.output
    if "error" in out:
        return [*lines, f"**Failed:** {out['error']}", ""]
    if step.node == "retrieve":
        neighbours = out.get("neighbours") or []
        if neighbours:
            lines += ["| # | id | label | similarity | claim |", "|---:|---|---|---:|---|"]
            for n, nb in enumerate(neighbours, 1):
                label = _md_cell(precedent_label(nb))
                text = _md_cell(excerpt(str(nb["text"]), _EXCERPT))
                cells = [str(n), _md_cell(nb["id"]), label, f"{nb['similarity']:.3f}", text]
                lines.append("| " + " | ".join(cells) + " |")
        else:
            lines.append("No labelled neighbours were found.")
    elif step.node in ("advocate", "skeptic"):
        argument = out.get("argument") or {}
        lines.append(_md_quote(argument.get("text", "")))
        if argument.get("cues"):
            lines += ["", "Cues: " + ", ".join(argument["cues"])]
        if argument.get("cited"):
            lines += ["", "Cites: " + ", ".join(f"`{c}`" for c in argument["cited"])]
        lines += _md_prompt(step)
    elif step.node == "judge":
        verdict = out.get("verdict") or {}
        lines += ["| label | p_green | confidence | method | route |", "|---|---:|---:|---|---|"]
        lines.append(
            f"| {label_name(verdict.get('label'))} | {_fmt(verdict.get('p_green'))} | "
            f"{_fmt(verdict.get('confidence'))} | {_md_cell(verdict.get('method') or '–')} | {out.get('route')} |"
        )
        if verdict.get("judge_version") is not None:
            lines += ["", f"Given by{judge_version_note(verdict)[2:]}."]
        if not verdict.get("readable", True):
            lines += ["", f"**Unreadable verdict:** {verdict.get('unreadable_reason')}"]
        if verdict.get("components"):
            lines += ["", "Components: " + ", ".join(f"{k} {v:.3f}" for k, v in verdict["components"].items())]
        if verdict.get("rationale"):
            lines += ["", _md_quote(verdict["rationale"])]
        lines += ["", route_line(step)]
        lines += _md_prompt(step)
    elif step.node == "human_review":
        lines.append(f"Asked because {step.input.get('reason') or 'the Judge was unsure'}.")
        decision = out.get("decision")
        if decision:
            lines += [
                "",
                f"**Decision:** label {label_name(decision.get('label'))} by "
                f"{decision.get('reviewer') or 'an unnamed reviewer'}, at {decision.get('decided_at')}; "
                f"verdict shown: {'yes' if decision.get('verdict_shown', True) else 'no (blind review)'}.",
            ]
            if decision.get("note"):
                lines += ["", _md_quote(f"Note: {decision['note']}")]
        else:
            lines += ["", "**Waiting for a person.**"]
    elif step.node == "finalize":
        decided_by = DECIDED_BY.get(out.get("decided_by") or "", out.get("decided_by") or "–")
        lines.append(f"**Final label {label_name(out.get('final_label'))}**, decided by {decided_by}.")
    lines.append("")
    return lines


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
        _md_quote(trace.state.text),
        "",
        f"**Outcome:** {outcome_line(trace)}",
        "",
    ]
    total = sum(step.duration_ms or 0.0 for step in trace.steps if step.node != "human_review")
    lines += [f"{len(trace.steps)} steps; machine time {format_duration(total)}.", ""]
    for index, step in enumerate(trace.steps, 1):
        lines += _md_step(step, index)
    # Data (claim text, ids, notes, model output) reaches this report unescaped: make its controls visible.
    return visible("\n".join(lines).rstrip() + "\n")
