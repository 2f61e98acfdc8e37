"""The interactive review session: one claim per screen, decided with one key.

Screen, top to bottom: the claim (wrapped), its labelled neighbours, the Advocate and the Skeptic side
by side, the Judge's verdict (hidden in blind mode until the person has decided), then the progress
line and the keys. Each decision goes through `ReviewDesk.decide` and is committed before the next
claim is drawn, so quitting, Ctrl-C or a crash loses nothing.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO

from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from claimcourt.display import as_text, markup, one_line, visible
from claimcourt.errors import ClaimcourtError
from claimcourt.review.desk import Order, ReviewDesk, judge_label
from claimcourt.state import ClaimState, HumanDecision, utc_now

GREEN_STYLE = "bold green"
NOT_GREEN_STYLE = "bold dark_orange"
EXCERPT_CHARS = 220
QUIT_KEYS = ("q", "\x04", "\x03")  # q, Ctrl-D, Ctrl-C


def label_text(label: int | None) -> Text:
    if label is None:
        return Text("no label", style="bold red")
    return Text("GREEN", style=GREEN_STYLE) if label == 1 else Text("NOT GREEN", style=NOT_GREEN_STYLE)


def bar(fraction: float, width: int = 10) -> str:
    filled = max(0, min(width, round(fraction * width)))
    return "▰" * filled + "▱" * (width - filled)


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


class KeyReader:
    """Single keys from a terminal (cbreak mode: no Enter needed, Ctrl-C still interrupts); from a
    pipe, one key per line, so a session can also be scripted."""

    def __init__(self, stream: IO[str] | None = None, console: Console | None = None) -> None:
        self.stream = stream or sys.stdin
        self.console = console or Console()
        try:
            self.fd: int | None = self.stream.fileno()
        except (AttributeError, OSError, ValueError):
            self.fd = None
        self.is_tty = self.fd is not None and os.isatty(self.fd)
        self.interrupted = False

    def key(self) -> str:
        """One key; "\x03" after Ctrl-C (see `interrupted`)."""
        with self._interruptible():
            if not self.is_tty or self.fd is None:
                line = self.stream.readline()
                if not line:
                    return "\x04"
                return line.strip()[:1]
            import termios
            import tty

            fd = self.fd
            saved = termios.tcgetattr(fd)
            try:
                tty.setcbreak(fd)
                first = os.read(fd, 1)
                if first == b"\x1b":  # an arrow or function key: swallow the rest of its sequence
                    while select.select([fd], [], [], 0.02)[0]:
                        os.read(fd, 16)
                    return ""
                return first.decode("utf-8", errors="replace")
            finally:
                termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        return "\x03"

    def line(self, prompt: str) -> str:
        with self._interruptible():
            if not self.is_tty:
                self.console.print(prompt, end="", markup=False, highlight=False)
                return self.stream.readline().rstrip("\n")
            return self.console.input(prompt)
        return ""

    @contextmanager
    def _interruptible(self) -> Iterator[None]:
        """Ctrl-C while waiting for a key ends the session cleanly. asyncio's own SIGINT handler would only
        cancel the session's task, which cannot happen while it blocks on the terminal."""
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.default_int_handler) if main else None
        try:
            yield
        except KeyboardInterrupt:
            self.interrupted = True
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)


@dataclass
class SessionSummary:
    decided: int = 0
    undone: int = 0
    skipped: list[str] = field(default_factory=list)
    decided_elsewhere: int = 0
    waiting_in_run: int = 0
    quit: bool = False
    interrupted: bool = False


HELP = """\
[bold]Keys[/]
  [bold green]1[/]  green (Y02): the claim is green technology
  [bold dark_orange]0[/]  not green
  [bold]a[/]  accept the Judge's label (not offered in blind review)
  [bold]s[/]  skip this claim for now (it keeps waiting)
  [bold]n[/]  add or edit a note for this claim (a note is required to overrule the Judge)
  [bold]m[/]  show the Advocate's and the Skeptic's arguments whole (when cut to fit the terminal)
  [bold]u[/]  undo your last decision: the claim waits for a person again
  [bold]q[/]  quit: every decision is already saved; the next session starts where this one stopped
  [bold]?[/]  this help

[bold]Blind review[/] (--blind) hides the Judge's verdict until you have decided, and records that you did
not see it: people tend to echo the machine suggestion they saw first. [bold]AUDIT[/] claims (the Judge was
sure enough to decide alone; a random share comes to a person to check it) are always shown blind,
unless the session was started with --reveal-audits.
"""


class ReviewSession:
    def __init__(
        self,
        desk: ReviewDesk,
        *,
        reviewer: str,
        console: Console,
        keys: KeyReader,
        blind: bool = False,
        order: Order = "confidence",
        second_opinion: bool = False,
    ) -> None:
        self.desk = desk
        self.reviewer = reviewer
        self.console = console
        self.keys = keys
        # What the person asked for; `blind` is what the current claim gets (audits: blind by default).
        self.requested_blind = blind
        self.blind = blind
        self.order: Order = order
        self.second_opinion = second_opinion
        self.summary = SessionSummary()
        self.queue: list[str] = []
        self.total = 0
        self.message: RenderableType | None = None
        # `m` on a claim whose arguments were cut to fit the terminal shows them whole, until the next claim.
        self.full_arguments = False

    # -- the loop ---------------------------------------------------------------------------------
    async def run(self) -> SessionSummary:
        self.queue = self.desk.queue(order=self.order, second_opinion=self.second_opinion, reviewer=self.reviewer)
        self.total = len(self.queue)
        while self.queue:
            claim_id = self.queue[0]
            state = await self._reviewable(claim_id)
            if state is None:
                self.queue.pop(0)
                self.summary.decided_elsewhere += 1
                continue
            if not await self._review_one(state):
                self.summary.quit = True
                self.summary.interrupted = self.keys.interrupted
                break
        if self.message is not None:
            self.console.print(self.message)  # the last decision's line, with no next screen to carry it
        self.summary.waiting_in_run = self.desk.waiting_count()
        return self.summary

    async def _reviewable(self, claim_id: str) -> ClaimState | None:
        if not self.second_opinion:
            return await self.desk.waiting_state(claim_id)
        state = await self.desk.current(claim_id)
        if state is None or state.decided_by != "human":
            return None
        mine = self.desk.store.active(run_id=self.desk.run_id, claim_id=claim_id)
        return None if any(r.reviewer == self.reviewer for r in mine) else state

    async def _review_one(self, state: ClaimState) -> bool:
        """Show one claim until it is decided, skipped or undone past; False when the person quits."""
        shown_at = utc_now()
        note: str | None = None
        self.full_arguments = False
        judge = judge_label(state)
        self.blind = self.desk.blind_for(state, requested=self.requested_blind)
        while True:
            self.draw(state, note)
            self.message = None
            key = self.keys.key().lower()
            if key in QUIT_KEYS:
                return False
            if key == "?":
                self.console.clear()
                self.console.print(Panel(HELP, title="help", border_style="cyan"))
                self.console.print("[dim]press any key to go back to the claim[/]")
                if self.keys.key() in QUIT_KEYS:
                    return False
                continue
            if key == "n":
                note = self._ask_note(note)
                if self.keys.interrupted:
                    return False
                continue
            if key == "m":
                self.full_arguments = not self.full_arguments
                continue
            if key == "s":
                self.queue.pop(0)
                self.summary.skipped.append(state.claim_id)
                self.message = as_text(f"skipped {one_line(state.claim_id)}: it keeps waiting", style="dim")
                return True
            if key == "u":
                if await self._undo(state.claim_id):
                    return True
                continue
            label: int | None = None
            if key in ("1", "0"):
                label = int(key)
            elif key == "a":
                if self.blind:
                    self.message = Text("a is not offered in blind review: decide with 1 or 0", style="yellow")
                    continue
                if judge is None:
                    self.message = Text("the Judge has no readable label here: decide with 1 or 0", style="yellow")
                    continue
                label = judge
            else:
                shown = repr(key) if key else "that key"
                self.message = Text(f"{shown} does nothing here; press ? for help", style="yellow")
                continue
            overrules = not self.blind and judge is not None and label != judge
            if overrules and not note:
                note = self._ask_note(
                    None,
                    why=f"You are overruling the Judge ({'GREEN' if judge else 'NOT GREEN'} → "
                    f"{'GREEN' if label else 'NOT GREEN'}): a note saying why is required.",
                )
                if self.keys.interrupted:
                    return False
                if not note:
                    self.message = Text("not decided: overruling the Judge needs a note", style="yellow")
                    continue
            if await self._decide(state, label, note, shown_at):
                return True

    def _ask_note(self, current: str | None, *, why: str | None = None) -> str | None:
        if why:
            self.console.print(Text(why, style="bold yellow"))
        hint = " (Enter keeps it)" if current else " (empty: none)"
        answer = self.keys.line(f"note{hint}: ").strip()
        if not answer:
            return current
        self.message = Text("note saved for this claim; now decide with 1 / 0", style="cyan")
        return answer

    async def _decide(self, state: ClaimState, label: int, note: str | None, shown_at: str) -> bool:
        decision = HumanDecision(label=label, reviewer=self.reviewer, note=note, verdict_shown=not self.blind)
        shown = ["claim", "neighbours", "advocate", "skeptic"] + ([] if self.blind else ["verdict"])
        try:
            outcome = await self.desk.decide(
                state.claim_id,
                decision,
                source="interactive",
                shown=shown,
                shown_at=shown_at,
                second_opinion=self.second_opinion,
            )
        except ClaimcourtError as exc:
            self.message = as_text(f"not saved: {exc.message}", style="bold red")
            return False
        self.queue.pop(0)
        self.summary.decided += 1
        self.message = self._decided_line(outcome.claim_id, label, state, outcome.status)
        return True

    def _decided_line(self, claim_id: str, label: int, state: ClaimState, status: str) -> Text:
        line = Text("✓ saved ", style="bold green")
        line.append(f"{one_line(claim_id)} → ")
        line.append_text(label_text(label))
        verdict = state.verdict
        if verdict is not None and verdict.readable and verdict.label is not None:
            line.append("   the Judge said ")
            line.append_text(label_text(verdict.label))
            line.append(f" at {verdict.confidence:.2f}")
            if self.blind:
                line.append("  (revealed after your decision)", style="dim")
        if status == "decided_elsewhere":
            line.append("   decided meanwhile by another session: yours is kept as a second opinion", style="yellow")
        return line

    async def _undo(self, current_claim: str) -> bool:
        try:
            undone = await self.desk.undo_last(self.reviewer)
        except ClaimcourtError as exc:
            self.message = as_text(f"cannot undo: {exc.message}", style="bold red")
            return False
        if undone is None:
            self.message = as_text(f"nothing to undo: {self.reviewer} has no decision in this run", style="yellow")
            return False
        review = undone.review
        self.summary.undone += 1
        if review.session_id == self.desk.session_id:
            self.summary.decided -= 1
        back_in_queue = (undone.state is not None and not self.second_opinion) or (
            self.second_opinion and not review.resumed_thread
        )
        if back_in_queue and review.claim_id != current_claim:
            if review.claim_id in self.queue:
                self.queue.remove(review.claim_id)
            self.queue.insert(0, review.claim_id)
        where = "it waits for a person again" if undone.state is not None else "your second opinion is withdrawn"
        self.message = as_text(f"↶ undid your decision on {one_line(review.claim_id)}: {where}", style="bold cyan")
        return back_in_queue

    # -- drawing ----------------------------------------------------------------------------------
    def draw(self, state: ClaimState, note: str | None) -> None:
        console = self.console
        console.clear()
        mode = "  [reverse bold magenta] BLIND [/]" if self.blind else ""
        if state.audit:
            mode += "  [reverse bold yellow] AUDIT [/]"
        second = "  [reverse bold blue] SECOND OPINION [/]" if self.second_opinion else ""
        console.rule(
            f"[bold]claimcourt review[/] · run [cyan]{markup(self.desk.run_id)}[/] · "
            f"reviewer [cyan]{markup(self.reviewer)}[/]"
            + mode
            + second
        )
        if self.message is not None:
            console.print(self.message)
        for part in self.screen(state, note):
            console.print(part)

    def screen(self, state: ClaimState, note: str | None) -> list[RenderableType]:
        claim = Panel(
            as_text(state.text),
            title=f"[bold]claim {markup(one_line(state.claim_id))}[/]",
            subtitle=f"{len(state.text.split())} words",
            border_style="cyan",
            padding=(0, 1),
        )
        tail: list[RenderableType] = [self.verdict(state)]
        if note:
            tail.append(Text.assemble(("your note: ", "bold cyan"), visible(note)))
        tail += [self.progress_line(), self.legend()]
        head: list[RenderableType] = [claim, self.neighbours(state)]
        arguments = self.arguments(state)
        if not self.full_arguments and self.console.is_terminal:
            # The claim must stay on screen: when everything would not fit, the two arguments (whose
            # evidence the neighbours table already shows) are cut to the room left; `m` shows them whole.
            used = sum(self.height(part) for part in (*head, *tail)) + 2  # + the header rule and message
            room = self.console.height - used
            if self.height(arguments) > room:
                arguments = self.arguments(state, height=max(room, 5))
                tail[-1] = self.legend(cut=True)
        return [*head, arguments, *tail]

    def height(self, renderable: RenderableType) -> int:
        return len(self.console.render_lines(renderable, self.console.options, pad=False))

    def neighbours(self, state: ClaimState) -> RenderableType:
        if not state.neighbours:
            return Text("no labelled neighbours were found", style="dim")
        table = Table(title="most similar labelled claims", title_justify="left", expand=True, box=None, padding=(0, 1))
        table.add_column("label", no_wrap=True)
        table.add_column("similarity", no_wrap=True)
        # One line per neighbour, cut to the terminal's width: the claim on trial keeps the screen.
        table.add_column("claim", ratio=1, no_wrap=True, overflow="ellipsis")
        for neighbour in state.neighbours:
            sim = Text(f"{neighbour.similarity:.2f} ", style="bold")
            sim.append(bar(max(0.0, neighbour.similarity), 6), style="cyan")
            claim = as_text(f"{one_line(neighbour.id)}  ", style="dim")
            claim.append(one_line(excerpt(neighbour.text)))
            table.add_row(label_text(neighbour.label), sim, claim)
        return Padding(table, (0, 0, 1, 0))

    def arguments(self, state: ClaimState, *, height: int | None = None) -> RenderableType:
        grid = Table.grid(expand=True, padding=(0, 1))
        grid.add_column(ratio=1)
        grid.add_column(ratio=1)
        advocate = state.advocate.text if state.advocate else "(no argument)"
        skeptic = state.skeptic.text if state.skeptic else "(no argument)"
        cut = "[dim]cut to fit · m shows all[/]" if height is not None else None
        grid.add_row(
            Panel(
                as_text(advocate),
                title="[bold green]Advocate[/] · the case for green",
                subtitle=cut,
                border_style="green",
                height=height,
            ),
            Panel(
                as_text(skeptic),
                title="[bold dark_orange]Skeptic[/] · the case against",
                subtitle=cut,
                border_style="dark_orange",
                height=height,
            ),
        )
        return grid

    def verdict(self, state: ClaimState) -> RenderableType:
        if self.blind:
            return Panel(
                Text("hidden until you decide (blind review): decide from the claim and the evidence", style="italic"),
                title="[bold]Judge[/]",
                border_style="magenta",
            )
        verdict = state.verdict
        if verdict is None or not verdict.readable or verdict.label is None:
            reason = verdict.unreadable_reason if verdict is not None else "no verdict"
            return Panel(
                as_text(f"the Judge's verdict could not be read ({reason}): the decision is yours"),
                title="[bold]Judge[/]",
                border_style="red",
            )
        head = Text("verdict ")
        head.append_text(label_text(verdict.label))
        head.append(f"   confidence {verdict.confidence:.2f} ", style="bold")
        head.append(bar(verdict.confidence), style="yellow")
        head.append(f"   (a person decides below {self.desk.run['threshold']:.2f})", style="dim")
        body = Group(head, as_text(verdict.rationale or "", style="default"))
        return Panel(body, title="[bold]Judge[/]", border_style="yellow")

    def progress_line(self) -> Text:
        done = self.summary.decided
        left = len(self.queue)
        line = Text()
        line.append(f" {done} decided ", style="bold black on green")
        line.append(" ")
        line.append(f" {left} waiting ", style="bold black on yellow")
        if self.summary.skipped:
            line.append(f"  {len(self.summary.skipped)} skipped", style="dim")
        total = done + left
        if total:
            line.append("  " + bar(done / total, 20) + f" {done}/{total}", style="green")
        order = "lowest confidence first" if self.order == "confidence" else "file order"
        line.append(f"   {order}", style="dim")
        return line

    def legend(self, *, cut: bool = False) -> Text:
        keys: list[tuple[str, str]] = [("1", "green"), ("0", "not green")]
        if not self.blind:
            keys.append(("a", "accept Judge"))
        keys += [("s", "skip"), ("n", "note"), ("u", "undo")]
        if cut:
            keys.append(("m", "more"))
        keys += [("q", "quit"), ("?", "help")]
        legend = Text()
        for key, what in keys:
            legend.append(f" {key} ", style="bold reverse")
            legend.append(f" {what}  ")
        return legend
