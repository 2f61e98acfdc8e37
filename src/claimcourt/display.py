"""Text that came from data (claim texts, notes, reviewer names, ids, model output), made safe to show.

Data is shown as text, never as instructions to a terminal or to rich: control characters (ANSI/OSC
escape sequences, carriage returns, bidi overrides) would let a claim clear the screen, retitle the
window or draw a fake verdict line, and rich markup (`[bold]`, `[/]`) would restyle the screen or crash
it. Every surface that prints data goes through one of these.
"""

from __future__ import annotations

import re

from rich.markup import escape
from rich.text import Text

# C0 controls but tab and newline, DEL, C1 controls, and the bidi embeddings/overrides/isolates that
# reorder what is shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode control picture: ESC shows as "␛"
    if code == 0x7F:
        return "\u2421"
    return f"<U+{code:04X}>"


def visible(text: str | None) -> str:
    """`text` with every control character replaced by a visible stand-in (newline and tab kept)."""
    if not text:
        return ""
    return _CONTROL.sub(_visible, text)


def one_line(text: str | None) -> str:
    """`visible(text)` with its whitespace (newlines too) folded to single spaces."""
    return " ".join(visible(text).split())


def excerpt(text: str | None, limit: int) -> str:
    """`one_line(text)` cut to at most `limit` characters, an ellipsis marking the cut: what a list or a
    panel shows of a claim, a precedent or a rationale."""
    flat = one_line(text)
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def markup(text: str | None) -> str:
    """`text` for a rich markup string: controls made visible and markup escaped."""
    return escape(visible(text))


def as_text(text: str | None, style: str = "") -> Text:
    """`text` as a rich Text (never parsed as markup), controls made visible."""
    return Text(visible(text), style=style)


def label_name(label: int | None) -> str:
    """How every face names a label: GREEN (1), NOT GREEN (0), or 'no label'."""
    if label is None:
        return "no label"
    return "GREEN" if label == 1 else "NOT GREEN"
