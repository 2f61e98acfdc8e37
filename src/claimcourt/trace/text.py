"""The phrases a trace is written in, shared by the terminal panels, the markdown report and the
commands that print a verdict: durations, labels, a verdict, a route, a person's decision."""

from __future__ import annotations

import re
from typing import Any

from rich.console import RenderableType
from rich.text import Text

from claimcourt.display import as_text, label_name, one_line, visible
from claimcourt.state import Neighbour
from claimcourt.trace.record import TraceStep
from claimcourt.vocab import DECIDER_NAMES, ClaimStatus, Node

_LEADING_NUMBER = re.compile(r"^(\s*\d+)\. ")


def numbered_label(label: Any) -> str:
    """A label as the trace shows it: its value and its name, '1 (green)' ('none' where there is none)."""
    if label is None:
        return "none"
    return f"{label} ({label_name(label).lower()})"


def decided_by_name(decided_by: Any) -> str:
    """Who decided, in words ('the Judge'); the raw value where it is no status, '–' where none."""
    try:
        return DECIDER_NAMES[ClaimStatus(decided_by)]
    except (KeyError, ValueError):
        return str(decided_by or "–")


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


def took(step: TraceStep) -> str:
    """'took 1.2 ms' ('waited' for a person's review: its duration is how long the claim waited)."""
    return f"{'waited' if step.node == Node.HUMAN_REVIEW else 'took'} {format_duration(step.duration_ms)}"


def fmt(value: Any, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def verdict_line(verdict: dict[str, Any]) -> str:
    if not verdict.get("readable", True):
        return f"unreadable verdict: {visible(verdict.get('unreadable_reason')) or 'no reason given'}"
    return (
        f"label {numbered_label(verdict.get('label'))} · p_green {fmt(verdict.get('p_green'))} · "
        f"confidence {fmt(verdict.get('confidence'))} · method {one_line(verdict.get('method')) or '–'}"
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
            f"route: {route} (an audit: confidence {fmt(verdict.get('confidence'), 2)} >= threshold "
            f"{threshold:.2f}, drawn at random for a person to check)"
        )
    compare = ">=" if route == Node.FINALIZE else "<"
    if not verdict.get("readable", True):
        return f"route: {route} (the verdict could not be read)"
    return f"route: {route} (confidence {fmt(verdict.get('confidence'), 2)} {compare} threshold {threshold:.2f})"


def decision_line(decision: dict[str, Any]) -> str:
    parts = [f"decision: label {numbered_label(decision.get('label'))}"]
    parts.append(f"by {one_line(decision.get('reviewer')) or 'an unnamed reviewer'}")
    parts.append(f"at {decision.get('decided_at')}")
    parts.append("verdict shown: " + ("yes" if decision.get("verdict_shown", True) else "no (blind review)"))
    line = ", ".join(parts)
    if decision.get("note"):
        line += f"\nnote: {visible(decision['note'])}"
    return line


def precedent_label(neighbour: dict[str, Any]) -> str:
    """A neighbour's label, and for a person's decision whose it is (`Neighbour.provenance`)."""
    label = label_name(neighbour["label"]).lower()
    provenance = Neighbour.model_validate(neighbour).provenance
    return f"{label} ({provenance})" if provenance else label


def prompt_lines(step: TraceStep, show_prompts: bool) -> list[RenderableType]:
    """The node's prompt (LLM backends), folded to one line unless asked for."""
    prompt = step.input.get("prompt")
    if not prompt:
        return []
    truncated = " (the claim was truncated to fit)" if step.input.get("claim_truncated") else ""
    if not show_prompts:
        return [Text(f"prompt: {len(prompt)} characters, folded{truncated} (--show-prompts to unfold)", style="dim")]
    return [Text(f"prompt{truncated}:", style="bold"), as_text(prompt, style="dim")]


# -- markdown --------------------------------------------------------------------------------------


def md_cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def md_quote(text: str) -> str:
    """A blockquote that keeps the text's line breaks, and does not turn a claim's leading "1." into a
    numbered list."""
    lines = [_LEADING_NUMBER.sub(r"\1\\. ", line.rstrip()) for line in str(text).splitlines() or [""]]
    return "  \n".join(f"> {line}" if line.strip() else ">" for line in lines)


def _md_fence(text: str) -> str:
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}text\n{text}\n{fence}"


def md_prompt(step: TraceStep) -> list[str]:
    prompt = step.input.get("prompt")
    if not prompt:
        return []
    truncated = " (claim truncated to fit)" if step.input.get("claim_truncated") else ""
    summary = f"<details><summary>Prompt ({len(prompt)} characters){truncated}</summary>"
    return ["", summary, "", _md_fence(prompt), "", "</details>"]
