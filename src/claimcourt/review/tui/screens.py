"""The review app's dialogs: the note field, the search field, the list of claims, the help."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from claimcourt.review.policy import help_lines, rules_text
from claimcourt.review.queries import ClaimRow
from claimcourt.review.tui.panels import row_cells

# Keys that decide a claim: a note made of one of them alone is a key pressed by mistake, not a reason.
LABEL_KEYS = frozenset({"1", "0", "a"})


class NoteScreen(ModalScreen[str | None]):
    """A note field. Enter keeps the note (None when empty and not required); Escape gives None.
    `required`: an empty note is refused (overruling the Judge needs a reason)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel", priority=True)]

    def __init__(self, *, why: str, current: str | None, required: bool) -> None:
        super().__init__()
        self.why = why
        self.current = current or ""
        self.required = required

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(self.why, style="bold yellow"), id="why")
            yield Input(value=self.current, placeholder="why (Enter saves, Escape cancels)", id="note")
            yield Static("", id="problem")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        note = event.value.strip()
        problem = self.query_one("#problem", Static)
        if note in LABEL_KEYS:
            problem.update(Text(f"'{note}' is a label key, not a reason: say why in words (Escape cancels)", "red"))
            return
        if not note and self.required:
            problem.update(Text("a note is required here: say why, or press Escape to cancel the decision", "red"))
            return
        self.dismiss(note or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class SearchScreen(ModalScreen[str | None]):
    """A search field: a claim id to jump to, or words to find in the claims' text."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "cancel", priority=True)]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text("search: a claim id, or words of its text", style="bold"))
            yield Input(placeholder="id or words (Enter searches, Escape goes back)", id="query")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ClaimListScreen(ModalScreen[str | None]):
    """The run's claims (waiting / decided by you / by others / by the Judge); Enter opens one. The rows
    come through the policy (`queries.seen_by`); `judge_column` is off in a blind session."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,l", "cancel", "back", priority=True),
    ]

    def __init__(self, rows: list[ClaimRow], *, title: str, reviewer: str, judge_column: bool) -> None:
        super().__init__()
        self.rows = rows
        self.title_text = title
        self.reviewer = reviewer
        self.judge_column = judge_column

    def compose(self) -> ComposeResult:
        with Vertical(id="listing"):
            yield Static(Text(self.title_text, style="bold"), id="list-title")
            table: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=True, id="claims")
            yield table
            yield Static(Text("↑↓ move · Enter open · Escape back", style="dim"))

    def on_mount(self) -> None:
        table = self.query_one("#claims", DataTable)
        columns = ["id", "who has it", "yours", "others'"] + (["Judge", "conf."] if self.judge_column else [])
        table.add_columns(*columns, "claim")
        width = max(20, self.app.size.width - (64 if self.judge_column else 48))
        for row in self.rows:
            cells = row_cells(row, width, reviewer=self.reviewer, judge_column=self.judge_column)
            table.add_row(*cells, key=row.claim_id)
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.dismiss(event.row_key.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


def help_text(*, blind: bool) -> Text:
    """The keys and the rules, from the policy's one key table; fits 80 columns."""
    out = Text("Keys\n", style="bold")
    for shows_as, what in help_lines("terminal"):
        out.append(f"  {shows_as:>8}  ", style="bold")
        out.append(what + "\n")
    out.append("  ↑↓ PgUp PgDn  scroll the claim\n\n")
    if blind:
        out.append("This session is BLIND.\n", style="bold magenta")
    for rule in rules_text():
        out.append(rule + "\n\n")
    out.append("Escape or q goes back", style="dim")
    return out


class HelpScreen(ModalScreen[None]):
    """The help: scrolls where the terminal is short (it fits 80x24 with scrolling)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "back", priority=True)]

    def __init__(self, *, blind: bool = False) -> None:
        super().__init__()
        self.blind = blind

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="dialog"):
            yield Static(help_text(blind=self.blind), id="help")

    def on_mount(self) -> None:
        self.query_one("#dialog").focus()  # ↑↓ PgUp PgDn End scroll a help taller than the terminal

    def action_close(self) -> None:
        self.dismiss(None)
