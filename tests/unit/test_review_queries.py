"""The shared review queries (search, filters) and the app's panels, on hand-made claims."""

from __future__ import annotations

from claimcourt.review.queries import ClaimRow, search_rows
from claimcourt.review.tui.panels import claim_text, neighbours_text, verdict_text
from claimcourt.state import ClaimState, Neighbour, Verdict


def row(claim_id: str, text: str, label: int | None, confidence: float | None) -> ClaimRow:
    return ClaimRow(claim_id, 0, "waiting", text, label, confidence, ())


ROWS = [
    row("A-1", "A solar panel with a coating.", 1, 0.55),
    row("A-10", "A bicycle frame.", 0, 0.65),
    row("B-2", "A wind turbine blade.", 1, 0.95),
    row("C-3", "An unreadable one.", None, None),
]


def test_search_jumps_to_an_exact_id_else_finds_words_in_ids_and_text() -> None:
    assert [r.claim_id for r in search_rows(ROWS, "A-1")] == ["A-1"]  # not A-10 too
    assert [r.claim_id for r in search_rows(ROWS, "a-1")] == ["A-1", "A-10"]
    assert [r.claim_id for r in search_rows(ROWS, "TURBINE")] == ["B-2"]
    assert search_rows(ROWS, "  ") == [] and search_rows(ROWS, "nothing") == []


def test_filters_by_the_judges_label_and_confidence_band() -> None:
    assert [r.claim_id for r in ROWS if r.matches("green", None)] == ["A-1", "B-2"]
    assert [r.claim_id for r in ROWS if r.matches("not green", None)] == ["A-10"]
    assert [r.claim_id for r in ROWS if r.matches("any", (0.6, 0.7))] == ["A-10"]
    assert [r.claim_id for r in ROWS if r.matches("any", (0.9, 1.0))] == ["B-2"]  # the last band holds 1.0
    assert [r.claim_id for r in ROWS if r.matches("green", (0.0, 0.6))] == ["A-1"]


def test_data_shows_as_text_never_as_markup_or_escapes() -> None:
    state = ClaimState(
        claim_id="x",
        text="[bold]A solar cell[/bold] \x1b[31mred\x1b[0m [/]",
        neighbours=[Neighbour(id="[red]n1", text="[link=x]y", label=1, similarity=0.5)],
        verdict=Verdict(label=1, p_green=0.6, confidence=0.6, rationale="[blink]why\x1b]0;title\x07"),
    )
    text = claim_text(state)
    assert text.plain == "[bold]A solar cell[/bold] ␛[31mred␛[0m [/]"
    assert any(span.style for span in text.spans)  # the Y02 cue ("solar cell") is highlighted
    assert "[red]n1" in neighbours_text(state).plain and "[link=x]y" in neighbours_text(state).plain
    shown = verdict_text(state, hidden=False, threshold=0.7).plain
    assert "[blink]why␛]0;title␇" in shown
    assert "why" not in verdict_text(state, hidden=True, threshold=0.7).plain
