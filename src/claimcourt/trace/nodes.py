"""What a trace knows about each node, in one table (`TRACED`): what went in and what came out of a
step (its JSON contract, `schema.json`), and how it reads in the terminal and in markdown. A node the
graph gains is one more entry here, not one more branch in four places."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from claimcourt.display import as_text, excerpt, markup
from claimcourt.nodes.human_review import review_reason
from claimcourt.state import ClaimState
from claimcourt.trace.record import TraceStep
from claimcourt.trace.text import (
    decided_by_name,
    decision_line,
    fmt,
    judge_version_note,
    md_cell,
    md_prompt,
    md_quote,
    numbered_label,
    precedent_label,
    prompt_lines,
    route_line,
    verdict_line,
)
from claimcourt.vocab import Node

_EXCERPT = 90
# Kept out of an argument's or verdict's output: they describe what went in, so they sit in `input`.
_INPUT_SIDE = ("prompt", "claim_truncated")


@dataclass(frozen=True)
class StepContext:
    """What a step's input is read from: the state the node started from, its update (JSON), the run's
    threshold, and the interrupt's payload (a review)."""

    before: ClaimState
    update: dict[str, Any]
    threshold: float | None
    interrupt_value: Any = None

    @property
    def neighbour_ids(self) -> list[str]:
        return [n.id for n in self.before.neighbours]


def _without(record: dict[str, Any] | None, keys: tuple[str, ...]) -> dict[str, Any] | None:
    if record is None:
        return None
    return {k: v for k, v in record.items() if k not in keys}


class NodeTrace(ABC):
    """One node's entry: its step's input and output, and its body in the terminal and in markdown."""

    border = "blue"  # the colour of the step's panel in the terminal

    @abstractmethod
    def input(self, node: Node, ctx: StepContext) -> dict[str, Any]:
        """The inputs that matter for the node (not the whole state: a trace must stay readable)."""

    @abstractmethod
    def output(self, node: Node, update: dict[str, Any]) -> dict[str, Any]: ...

    @abstractmethod
    def body(self, step: TraceStep, show_prompts: bool) -> list[RenderableType]: ...

    @abstractmethod
    def markdown(self, step: TraceStep) -> list[str]: ...


class Retrieve(NodeTrace):
    def input(self, node: Node, ctx: StepContext) -> dict[str, Any]:
        return {"claim_id": ctx.before.claim_id, "text": ctx.before.text}

    def output(self, node: Node, update: dict[str, Any]) -> dict[str, Any]:
        return {"neighbours": update.get("neighbours", [])}

    def body(self, step: TraceStep, show_prompts: bool) -> list[RenderableType]:
        neighbours = step.output.get("neighbours") or []
        if not neighbours:
            return [Text("no labelled neighbours found", style="yellow")]
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
        return [table]

    def markdown(self, step: TraceStep) -> list[str]:
        neighbours = step.output.get("neighbours") or []
        if not neighbours:
            return ["No labelled neighbours were found."]
        lines = ["| # | id | label | similarity | claim |", "|---:|---|---|---:|---|"]
        for n, nb in enumerate(neighbours, 1):
            label = md_cell(precedent_label(nb))
            text = md_cell(excerpt(str(nb["text"]), _EXCERPT))
            cells = [str(n), md_cell(nb["id"]), label, f"{nb['similarity']:.3f}", text]
            lines.append("| " + " | ".join(cells) + " |")
        return lines


class Debater(NodeTrace):
    """The Advocate and the Skeptic: an argument under the node's own name."""

    def input(self, node: Node, ctx: StepContext) -> dict[str, Any]:
        argument = ctx.update.get(node) or {}
        return {
            "neighbours": ctx.neighbour_ids,
            "prompt": argument.get("prompt"),
            "claim_truncated": bool(argument.get("claim_truncated", False)),
        }

    def output(self, node: Node, update: dict[str, Any]) -> dict[str, Any]:
        return {"argument": _without(update.get(node), _INPUT_SIDE)}

    def body(self, step: TraceStep, show_prompts: bool) -> list[RenderableType]:
        argument = step.output.get("argument") or {}
        parts: list[RenderableType] = [as_text(argument.get("text", ""))]
        extras = []
        if argument.get("cues"):
            extras.append("cues: " + ", ".join(argument["cues"]))
        if argument.get("cited"):
            extras.append("cites: " + ", ".join(argument["cited"]))
        if argument.get("backend"):
            extras.append(f"backend: {argument['backend']}")
        if extras:
            parts.append(as_text(" · ".join(extras), style="dim"))
        return parts + prompt_lines(step, show_prompts)

    def markdown(self, step: TraceStep) -> list[str]:
        argument = step.output.get("argument") or {}
        lines = [md_quote(argument.get("text", ""))]
        if argument.get("cues"):
            lines += ["", "Cues: " + ", ".join(argument["cues"])]
        if argument.get("cited"):
            lines += ["", "Cites: " + ", ".join(f"`{c}`" for c in argument["cited"])]
        return lines + md_prompt(step)


class Judge(NodeTrace):
    border = "cyan"

    def input(self, node: Node, ctx: StepContext) -> dict[str, Any]:
        verdict = ctx.update.get("verdict") or {}
        before = ctx.before
        return {
            "advocate": before.advocate.text if before.advocate else None,
            "skeptic": before.skeptic.text if before.skeptic else None,
            "neighbours": ctx.neighbour_ids,
            "threshold": ctx.threshold,
            "prompt": verdict.get("prompt"),
            "claim_truncated": bool(verdict.get("claim_truncated", False)),
        }

    def output(self, node: Node, update: dict[str, Any]) -> dict[str, Any]:
        return {
            "verdict": _without(update.get("verdict"), _INPUT_SIDE),
            "route": update.get("route"),
            "decided_by": update.get("decided_by"),
            "audit": bool(update.get("audit", False)),
        }

    def body(self, step: TraceStep, show_prompts: bool) -> list[RenderableType]:
        verdict = step.output.get("verdict") or {}
        parts: list[RenderableType] = [Text(verdict_line(verdict), style="bold")]
        if verdict.get("components"):
            parts.append(Text(", ".join(f"{k} {v:.3f}" for k, v in verdict["components"].items()), style="dim"))
        if verdict.get("rationale"):
            parts.append(as_text(verdict["rationale"]))
        route_style = "yellow" if step.output.get("route") == Node.HUMAN_REVIEW else "green"
        parts.append(Text(route_line(step), style=route_style))
        return parts + prompt_lines(step, show_prompts)

    def markdown(self, step: TraceStep) -> list[str]:
        verdict = step.output.get("verdict") or {}
        lines = ["| label | p_green | confidence | method | route |", "|---|---:|---:|---|---|"]
        lines.append(
            f"| {numbered_label(verdict.get('label'))} | {fmt(verdict.get('p_green'))} | "
            f"{fmt(verdict.get('confidence'))} | {md_cell(verdict.get('method') or '–')} | {step.output.get('route')} |"
        )
        if verdict.get("judge_version") is not None:
            lines += ["", f"Given by{judge_version_note(verdict)[2:]}."]
        if not verdict.get("readable", True):
            lines += ["", f"**Unreadable verdict:** {verdict.get('unreadable_reason')}"]
        if verdict.get("components"):
            lines += ["", "Components: " + ", ".join(f"{k} {v:.3f}" for k, v in verdict["components"].items())]
        if verdict.get("rationale"):
            lines += ["", md_quote(verdict["rationale"])]
        return [*lines, "", route_line(step), *md_prompt(step)]


class HumanReview(NodeTrace):
    border = "yellow"

    def input(self, node: Node, ctx: StepContext) -> dict[str, Any]:
        """What the person was asked: the interrupt's own payload where the checkpoint kept it."""
        if isinstance(ctx.interrupt_value, dict):
            return {k: ctx.interrupt_value.get(k) for k in ("reason", "confidence", "threshold")}
        before, threshold = ctx.before, ctx.threshold
        return {
            "reason": review_reason(before, threshold) if threshold is not None else "",
            "confidence": before.verdict.confidence if before.verdict else 0.0,
            "threshold": threshold,
        }

    def output(self, node: Node, update: dict[str, Any]) -> dict[str, Any]:
        decision = update.get("human")
        return {"status": "decided" if decision else "waiting", "decision": decision}

    def body(self, step: TraceStep, show_prompts: bool) -> list[RenderableType]:
        parts: list[RenderableType] = [as_text(f"asked because {step.input.get('reason') or 'the Judge was unsure'}")]
        if step.output.get("decision"):
            parts.append(Text(decision_line(step.output["decision"]), style="bold"))
        else:
            parts.append(Text("waiting for a person (claimcourt review)", style="yellow"))
        return parts

    def markdown(self, step: TraceStep) -> list[str]:
        lines = [f"Asked because {step.input.get('reason') or 'the Judge was unsure'}."]
        decision = step.output.get("decision")
        if not decision:
            return [*lines, "", "**Waiting for a person.**"]
        lines += [
            "",
            f"**Decision:** label {numbered_label(decision.get('label'))} by "
            f"{decision.get('reviewer') or 'an unnamed reviewer'}, at {decision.get('decided_at')}; "
            f"verdict shown: {'yes' if decision.get('verdict_shown', True) else 'no (blind review)'}.",
        ]
        if decision.get("note"):
            lines += ["", md_quote(f"Note: {decision['note']}")]
        return lines


class Finalize(NodeTrace):
    border = "green"

    def input(self, node: Node, ctx: StepContext) -> dict[str, Any]:
        before = ctx.before
        return {
            "judge_label": before.verdict.label if before.verdict else None,
            "human_label": before.human.label if before.human else None,
        }

    def output(self, node: Node, update: dict[str, Any]) -> dict[str, Any]:
        return {"final_label": update.get("final_label"), "decided_by": update.get("decided_by")}

    def body(self, step: TraceStep, show_prompts: bool) -> list[RenderableType]:
        out = step.output
        decided_by = decided_by_name(out.get("decided_by"))
        return [Text(f"final label {numbered_label(out.get('final_label'))}, decided by {decided_by}", style="bold")]

    def markdown(self, step: TraceStep) -> list[str]:
        out = step.output
        decided_by = decided_by_name(out.get("decided_by"))
        return [f"**Final label {numbered_label(out.get('final_label'))}**, decided by {decided_by}."]


# Every node of the graph (`vocab.Node`, which `graph.builder` builds from) has its entry.
TRACED: dict[Node, NodeTrace] = {
    Node.RETRIEVE: Retrieve(),
    Node.ADVOCATE: Debater(),
    Node.SKEPTIC: Debater(),
    Node.JUDGE: Judge(),
    Node.HUMAN_REVIEW: HumanReview(),
    Node.FINALIZE: Finalize(),
}


def traced(node: str) -> NodeTrace:
    try:
        return TRACED[Node(node)]
    except ValueError:
        raise ValueError(f"not a traced node: {node}") from None
