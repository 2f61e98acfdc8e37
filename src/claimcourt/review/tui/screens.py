"""The review app's dialogs: the note field, the search field, the list of claims, the help."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

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
    """The run's claims (waiting / decided by you / by others / by the Judge); Enter opens one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,l", "cancel", "back", priority=True),
    ]

    def __init__(self, rows: list[ClaimRow], *, title: str) -> None:
        super().__init__()
        self.rows = rows
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="listing"):
            yield Static(Text(self.title_text, style="bold"), id="list-title")
            table: DataTable[Text] = DataTable(cursor_type="row", zebra_stripes=True, id="claims")
            yield table
            yield Static(Text("↑↓ move · Enter open · Escape back", style="dim"))

    def on_mount(self) -> None:
        table = self.query_one("#claims", DataTable)
        table.add_columns("id", "who has it", "Judge", "conf.", "claim")
        width = max(20, self.app.size.width - 52)
        for row in self.rows:
            table.add_row(*row_cells(row, width), key=row.claim_id)
        table.focus()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.dismiss(event.row_key.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


HELP = """\
Keys
  1  green (Y02): the claim is green technology        0  not green
  a  accept the Judge's label (not in blind review)    n  a note for this claim
  s  skip: the claim keeps waiting                     u  undo your last decision
  l  the run's claims: open any one (waiting, yours, others', the Judge's)
  /  search: a claim id, or words of the claim text
  f  filter by the Judge's label      c  filter by the Judge's confidence band
  Enter / →  next claim      ←  the claim before      ↑↓ PgUp PgDn  scroll the claim
  q  quit: every decision is already saved; the next session opens where this one stopped

On a claim you decided, 1 / 0 revise your decision (the earlier one stays in the history).
Overruling the Judge opens a note field that must say why; Escape cancels the decision.
Blind review (--blind) hides the Judge's verdict until you have decided, and records that you did not
see it: people tend to echo the machine suggestion they saw first. AUDIT claims (the Judge was sure
enough to decide alone; a random share comes to a person to check it) are always shown blind, unless
the session was started with --reveal-audits.

any key goes back"""


class HelpScreen(ModalScreen[None]):
    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(Text(HELP), id="help")

    def on_key(self) -> None:
        self.dismiss(None)
