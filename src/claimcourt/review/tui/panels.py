"""What the review app draws, as rich Text built from data through `claimcourt.display` (never markup):
a claim holding `[bold]` or an escape sequence shows as those characters."""

from __future__ import annotations

import re

from rich.text import Text

from claimcourt.display import as_text, excerpt, one_line, visible
from claimcourt.models.cues import find_cues
from claimcourt.review.policy import keys_for
from claimcourt.review.queries import ClaimRow, Standing
from claimcourt.review.tui.session import Session
from claimcourt.state import ClaimState
from claimcourt.store import Review

GREEN_STYLE = "bold green"
NOT_GREEN_STYLE = "bold dark_orange"
CUE_STYLE = "bold underline green"
STANDING_NAMES: dict[Standing, str] = {
    "waiting": "waiting",
    "mine": "decided by you",
    "others": "decided by others",
    "judge": "decided by the Judge",
    "other": "not debated",
}


def label_text(label: int | None) -> Text:
    if label is None:
        return Text("no label", style="bold red")
    return Text("GREEN", style=GREEN_STYLE) if label == 1 else Text("NOT GREEN", style=NOT_GREEN_STYLE)


def bar(fraction: float, width: int = 10) -> str:
    filled = max(0, min(width, round(fraction * width)))
    return "▰" * filled + "▱" * (width - filled)


def claim_text(state: ClaimState) -> Text:
    """The claim, its Y02 cue words highlighted."""
    text = as_text(state.text)
    for cue in find_cues(state.text):
        found = re.compile(r"\b" + re.escape(cue.found) + r"\b", re.IGNORECASE)
        text.highlight_regex(found, CUE_STYLE if cue.strong else "underline green")
    return text


def neighbours_text(state: ClaimState, width: int = 200) -> Text:
    if not state.neighbours:
        return Text("no labelled neighbours were found", style="dim")
    out = Text(no_wrap=True, overflow="ellipsis")
    for i, neighbour in enumerate(state.neighbours):
        if i:
            out.append("\n")
        out.append_text(label_text(neighbour.label))
        out.append(f"  {neighbour.similarity:.2f} ", style="bold")
        out.append(bar(max(0.0, neighbour.similarity), 5), style="cyan")
        out.append("  ")
        out.append(one_line(neighbour.named), style="bold magenta" if neighbour.provenance else "dim")
        out.append("  " + excerpt(one_line(neighbour.text), width))
    return out


def argument_text(state: ClaimState, role: str) -> Text:
    argument = state.advocate if role == "advocate" else state.skeptic
    return as_text(argument.text) if argument is not None else Text("(no argument)", style="dim")


def verdict_text(state: ClaimState, *, hidden: bool, threshold: float | None) -> Text:
    if hidden:
        return Text("hidden until you decide (blind review): decide from the claim and the evidence", style="italic")
    verdict = state.verdict
    if verdict is None or not verdict.readable or verdict.label is None:
        reason = verdict.unreadable_reason if verdict is not None else "no verdict"
        return Text(f"the Judge's verdict could not be read ({visible(reason)}): the decision is yours")
    head = Text("verdict ")
    head.append_text(label_text(verdict.label))
    head.append(f"  confidence {verdict.confidence:.2f} ", style="bold")
    head.append(bar(verdict.confidence), style="yellow")
    if threshold is not None:
        head.append(f"  (threshold {threshold:.2f})", style="dim")
    if verdict.rationale:
        head.append("\n")
        head.append_text(as_text(verdict.rationale))
    return head


def decisions_text(reviews: list[Review], reviewer: str) -> Text:
    """The people's decisions on a claim (active ones), for the verdict panel of a decided claim."""
    out = Text()
    for review in reviews:
        out.append("\n")
        out.append("you" if review.reviewer == reviewer else one_line(review.reviewer), style="bold")
        out.append(" decided ")
        out.append_text(label_text(review.label))
        out.append(f"  ({review.kind}, {review.decided_at[:16].replace('T', ' ')})", style="dim")
        if review.note:
            out.append("  note: ")
            out.append(one_line(review.note))
    return out


def people_text(reviews: tuple[Review, ...]) -> Text:
    """Labels given by people (one each, in order), or a dash when none."""
    if not reviews:
        return Text("–", style="dim")
    out = Text()
    for i, review in enumerate(reviews):
        if i:
            out.append(" ")
        out.append_text(label_text(review.label))
    return out


def row_cells(row: ClaimRow, width: int, *, reviewer: str, judge_column: bool) -> list[Text]:
    """id, standing, your label, others' labels, [Judge's label, confidence,] excerpt: one line of the list
    of claims. The row comes through `queries.seen_by`: what the policy hides is absent from it."""
    standing = Text(STANDING_NAMES[row.standing], style="yellow" if row.standing == "waiting" else "")
    mine = row.mine(reviewer)
    others = Text("hidden", style="dim italic") if row.hidden else people_text(row.others(reviewer))
    cells = [Text(one_line(row.claim_id)), standing, people_text((mine,) if mine else ()), others]
    if judge_column:
        if row.hidden:
            cells += [Text("hidden", style="dim italic"), Text("")]
        else:
            conf = "" if row.judge_confidence is None else f"{row.judge_confidence:.2f}"
            cells += [label_text(row.judge_label), Text(conf)]
    return [*cells, Text(excerpt(one_line(row.text), width))]


def status_line(session: Session) -> Text:
    """Run, reviewer, mode, place in the queue, decisions (this session, yours over the run, everyone's), waiting."""
    mine, everyone, waiting = session.counts()
    line = Text(" review ", style="bold reverse")
    line.append(f" run {one_line(session.desk.run_id)} · {one_line(session.reviewer)}")
    if session.blind:
        line.append(" BLIND ", style="bold reverse magenta")
    if session.shown is not None and session.shown.state.audit:
        line.append(" AUDIT ", style="bold reverse yellow")
    if session.second_opinion:
        line.append(" SECOND OPINION ", style="bold reverse blue")
    queue = session.queue()
    shown = session.shown
    if shown is not None and shown.claim_id in queue:
        line.append(f" · {queue.index(shown.claim_id) + 1}/{len(queue)}")
    line.append(f" · session {session.summary.decided}")
    line.append(f" · you {mine} · all {everyone}")
    line.append(f" · {waiting} waiting", style="bold yellow")
    if session.filter_name():
        line.append(f" · filter: {session.filter_name()}", style="cyan")
    return line


def legend(session: Session, *, narrow: bool) -> Text:
    """The keys the policy offers now, on one line: shorter words (and fewer keys) when the terminal is narrow."""
    shown = session.shown
    keys = keys_for(
        "terminal",
        verdict_shown=not session.verdict_hidden(),
        blind=session.blind,
        decided_blind=shown is not None and shown.situation.decided_blind_before,
    )
    out = Text()
    for key in keys:
        word = key.narrow if narrow else key.word
        if word is None or key.action == "next":
            continue
        out.append(key.shows_as, style="bold reverse")
        out.append(f" {word}  ")
    out.rstrip()
    return out
