from rich.console import Console

from claimcourt.display import as_text, markup, one_line, visible


def test_escape_sequences_become_visible() -> None:
    shown = visible("green\x1b[2J\x1b]0;pwned\x07 claim\r\u202e")
    assert "\x1b" not in shown and "\x07" not in shown and "\r" not in shown and "\u202e" not in shown
    assert "␛[2J" in shown and "<U+202E>" in shown


def test_markup_in_data_prints_as_written() -> None:
    console = Console(record=True, width=80)
    console.print(f"reviewer: {markup('[bold]eve[/]')}")
    console.print(as_text("[/] not markup"))
    out = console.export_text()
    assert "[bold]eve[/]" in out and "[/] not markup" in out


def test_one_line_folds_newlines() -> None:
    assert one_line("a\n b\tc") == "a b c"
