"""`claimcourt review` as a full-screen terminal app (Textual): one claim per screen, redrawn in place.

Panels: the claim (wrapped, scrollable, Y02 cue words highlighted), the Judge's verdict (hidden in blind
review until the person has decided, then shown in place), the labelled neighbours, the Advocate and the
Skeptic; a status bar above and the keys below. Narrow terminals stack the panels (the claim takes what
is left), wide ones put the evidence beside the claim. Every decision is committed by the desk before the
next claim is drawn, so quitting or a crash loses nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.widgets import Static

from claimcourt.display import one_line
from claimcourt.review.desk import ReviewDesk
from claimcourt.review.policy import KEYS, Action, label_name
from claimcourt.review.queries import search_rows
from claimcourt.review.tui.panels import (
    STANDING_NAMES,
    argument_text,
    claim_text,
    decisions_text,
    legend,
    neighbours_text,
    status_line,
    verdict_text,
)
from claimcourt.review.tui.screens import ClaimListScreen, HelpScreen, NoteScreen, SearchScreen
from claimcourt.review.tui.session import Said, Session, SessionSummary

if TYPE_CHECKING:
    from claimcourt.review.policy import Choice
    from claimcourt.review.queries import ClaimRow

WIDE_COLUMNS = 120  # from this width the evidence sits beside the claim
TONES = {"ok": "bold green", "info": "cyan", "warn": "yellow", "error": "bold red"}
# The policy's actions, as this app's Textual actions.
ACTIONS: dict[Action, str] = {
    "green": "decide('1')",
    "not_green": "decide('0')",
    "accept": "decide('a')",
    "skip": "skip",
    "note": "note",
    "undo": "undo",
    "list": "list",
    "search": "search",
    "filter_label": "label_filter",
    "filter_band": "band_filter",
    "next": "next",
    "back": "back",
    "help": "help",
    "quit": "quit_review",
}


class ReviewApp(App[None]):
    CSS_PATH = "review.tcss"
    ENABLE_COMMAND_PALETTE = False
    # From the policy's one key table; Ctrl+C is the terminal's own interrupt, not a review key.
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(k.keys, ACTIONS[k.action], k.word, show=False) for k in KEYS if "terminal" in k.faces),
        Binding("ctrl+c", "interrupt", "interrupt", show=False, priority=True),
    ]

    def __init__(self, session: Session, *, greeting: Said | None = None) -> None:
        super().__init__()
        self.session = session
        self.said = greeting
        self.loaded = False  # drawing waits for the first claim

    @property
    def desk(self) -> ReviewDesk:
        return self.session.desk

    def compose(self) -> ComposeResult:
        with Vertical(id="top"):
            yield Static(id="status")
            yield Static(id="message")
        with Vertical(id="body"):
            with Vertical(id="left"):
                with VerticalScroll(id="claim-box", classes="box"):
                    yield Static(id="claim")
                with VerticalScroll(id="verdict-box", classes="box"):
                    yield Static(id="verdict")
            with Vertical(id="right"):
                with VerticalScroll(id="neighbours-box", classes="box"):
                    yield Static(id="neighbours")
                with Horizontal(id="arguments"):
                    with VerticalScroll(id="advocate-box", classes="box"):
                        yield Static(id="advocate")
                    with VerticalScroll(id="skeptic-box", classes="box"):
                        yield Static(id="skeptic")
        yield Static(id="keys")

    async def on_mount(self) -> None:
        self.set_class(self.size.width >= WIDE_COLUMNS, "wide")
        self.query_one("#neighbours-box").border_title = "most similar labelled claims"
        self.query_one("#advocate-box").border_title = "Advocate · the case for green"
        self.query_one("#skeptic-box").border_title = "Skeptic · the case against"
        self.query_one("#verdict-box").border_title = "Judge"
        await self.session.start()
        if not self.session.second_opinion:  # renewed well before it lapses, so a long look keeps the claim
            self.set_interval(self.desk.settings.review_lease_s / 3, self.renew_lease)
        self.loaded = True
        self.draw()
        self.query_one("#claim-box").focus()

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width >= WIDE_COLUMNS, "wide")
        self.draw()

    # -- drawing ----------------------------------------------------------------------------------
    def say(self, said: Said | None) -> None:
        self.said = said
        self.draw()

    def draw(self) -> None:
        if not self.loaded:
            return
        session = self.session
        shown = session.shown
        message = Text(self.said.text, style=TONES[self.said.tone]) if self.said else Text("")
        self.query_one("#message", Static).update(message)
        self.query_one("#status", Static).update(status_line(session))
        self.query_one("#keys", Static).update(legend(session, narrow=self.size.width < WIDE_COLUMNS))
        claim_box = self.query_one("#claim-box")
        if shown is None:
            claim_box.border_title = "nothing to review"
            self.query_one("#claim", Static).update(self.nothing_left())
            for name in ("verdict", "neighbours", "advocate", "skeptic"):
                self.query_one(f"#{name}", Static).update("")
            return
        state = shown.state
        words = len(state.text.split())
        # A Text, not a string: Textual reads a string title as markup, and the id comes from data.
        claim_box.border_title = Text(
            f"claim {one_line(state.claim_id)} · {words} words · {STANDING_NAMES[shown.standing]}"
        )
        self.query_one("#claim", Static).update(claim_text(state))
        verdict = Text()
        if shown.note and shown.mine is None:  # first: the verdict box may be too short for all of it
            verdict.append("your note: ", style="bold cyan")
            verdict.append(one_line(shown.note) + "\n")
        verdict.append_text(verdict_text(state, hidden=session.verdict_hidden(), threshold=self.desk.run.threshold))
        if shown.reviews and not session.verdict_hidden():
            verdict.append_text(decisions_text(shown.reviews, session.reviewer))
        self.query_one("#verdict", Static).update(verdict)
        column = self.size.width // 2 if self.has_class("wide") else self.size.width
        self.query_one("#neighbours", Static).update(neighbours_text(state, max(20, column - 36)))
        self.query_one("#advocate", Static).update(argument_text(state, "advocate"))
        self.query_one("#skeptic", Static).update(argument_text(state, "skeptic"))

    def nothing_left(self) -> Text:
        session = self.session
        where = f" matching the filter ({session.filter_name()})" if session.filter_name() else ""
        kind = "needs your second opinion" if session.second_opinion else "waits for a person"
        filters = "" if session.blind else " · f / c change the filter"
        return Text(
            f"No claim{where} {kind} in run {one_line(self.desk.run_id)} any more.\n"
            f"l lists the run's claims (open any one to revise your decision){filters} · q quits"
        )

    async def renew_lease(self) -> None:
        said = self.session.renew_lease()
        if said is None:
            return
        if await self.session.next_claim() is None:
            self.session.shown = None  # the lost claim is another reviewer's now: not to be decided here
        self.say(said)

    # -- keys -------------------------------------------------------------------------------------
    async def action_decide(self, key: str) -> None:
        session = self.session
        refusal = session.refusal(key)
        if refusal is not None or session.shown is None:
            self.say(refusal)
            return
        label = session.label_for(key)
        assert label is not None
        choice: Choice = "accept" if key == "a" else "label"
        if session.needs_note(label) and not session.shown.note:
            judge = label_name(session.shown.situation.judge_label)
            why = f"You are overruling the Judge ({judge} → {label_name(label)}): say why."

            async def with_note(note: str | None) -> None:
                if note is None:
                    self.say(Said("not decided: overruling the Judge needs a note (Escape cancelled it)", "warn"))
                else:
                    session.set_note(note)
                    await self.decide(label, note, choice)

            self.push_screen(NoteScreen(why=why, current=None, required=True), with_note)
            return
        await self.decide(label, session.shown.note, choice)

    async def decide(self, label: int, note: str | None, choice: Choice = "label") -> None:
        session = self.session
        hidden = session.verdict_hidden()
        said = await session.decide(label, note, choice=choice)
        # A blind decision stays on screen for its reveal; a revision stays to be seen.
        stays = said.tone != "ok" or hidden or said.outcome == "revised"
        if not stays:
            await session.next_claim()
        elif said.tone == "ok":
            said = Said(said.text + "  · Enter: next claim", "ok")
        self.say(said)

    async def action_skip(self) -> None:
        if self.session.shown is None:
            return
        said = self.session.skip()
        await self.session.next_claim()
        self.say(said)

    async def action_next(self) -> None:
        if await self.session.next_claim() is None:
            self.say(Said("no other claim waits", "warn"))
        else:
            self.say(None)

    async def action_back(self) -> None:
        if await self.session.go_back() is None:
            self.say(Said("no claim before this one in this session", "warn"))
        else:
            self.say(None)

    def action_note(self) -> None:
        shown = self.session.shown
        if shown is None:
            return

        def keep(note: str | None) -> None:
            if note is not None:
                self.say(self.session.set_note(note))

        why = f"A note for claim {one_line(shown.claim_id)} (kept with your decision)"
        self.push_screen(NoteScreen(why=why, current=shown.note, required=False), keep)

    async def action_undo(self) -> None:
        said, claim_id = await self.session.undo()
        if claim_id is not None:
            await self.session.open(claim_id)
        self.say(said)

    async def open_claim(self, claim_id: str | None) -> None:
        if claim_id is None:
            return
        if await self.session.open(claim_id) is not None:
            self.say(None)
        elif holder := self.desk.lease_holder(claim_id):
            self.say(Said(f"{one_line(claim_id)} is on {one_line(holder)}'s screen: open another claim", "warn"))

    def action_list(self) -> None:
        rows = self.session.rows()
        name = self.session.filter_name()
        title = f"run {one_line(self.desk.run_id)}: {len(rows)} claims" + (f" ({name})" if name else "")
        self.push_screen(self.list_screen(rows, title), self.open_claim)

    def list_screen(self, rows: list[ClaimRow], title: str) -> ClaimListScreen:
        # A blind session has no Judge column at all: every claim it may open is one the person has not decided.
        return ClaimListScreen(rows, title=title, reviewer=self.session.reviewer, judge_column=not self.session.blind)

    def action_search(self) -> None:
        async def found(query: str | None) -> None:
            if query is None:
                return
            matches = search_rows(self.session.all_rows(), query)
            if len(matches) == 1:
                await self.open_claim(matches[0].claim_id)
            elif matches:
                title = f"{len(matches)} claims match '{one_line(query)}'"
                self.push_screen(self.list_screen(matches, title), self.open_claim)
            else:
                self.say(Said(f"no claim id or text matches '{one_line(query)}'", "warn"))

        self.push_screen(SearchScreen(), found)

    def action_label_filter(self) -> None:
        self.say(self.session.cycle_label_filter() or Said(self.filter_said()))

    def action_band_filter(self) -> None:
        self.say(self.session.cycle_band() or Said(self.filter_said()))

    def filter_said(self) -> str:
        name = self.session.filter_name() or "none (every claim)"
        return f"filter: {name}; {len(self.session.queue())} claim(s) to review match"

    def action_help(self) -> None:
        self.push_screen(HelpScreen(blind=self.session.blind))

    def action_quit_review(self) -> None:
        self.session.release_lease()
        self.exit()

    def action_interrupt(self) -> None:
        self.session.release_lease()
        self.session.summary.interrupted = True
        self.exit(return_code=130)


async def run_review(session: Session, *, greeting: Said | None = None) -> SessionSummary:
    """Run the app until the person quits; the session's summary. The desk's "busy, waiting" notice would
    print over the screen, so it is silenced while the app runs (the wait itself still happens)."""
    on_wait, session.desk.on_wait = session.desk.on_wait, None
    try:
        await ReviewApp(session, greeting=greeting).run_async()
    finally:
        session.desk.on_wait = on_wait
    return session.finish()
