"""Reading the review app's screen back as text, from Textual's own screenshot (an SVG of the terminal)."""

from __future__ import annotations

import html
import re

from textual.app import App

_TEXT = re.compile(
    r'<text [^>]*x="([\d.]+)" y="[\d.]+" textLength="[\d.]+" clip-path="url\(#[\w-]+-line-(\d+)\)">([^<]*)</text>'
)
_CHAR = re.compile(r"<clipPath id=\"[\w-]+-line-0\">\s*<rect x=\"0\" y=\"[\d.]+\" width=\"([\d.]+)\"")


def screen_text(app: App[object]) -> str:
    """The screen as lines of text, as a person reads them (colours dropped)."""
    svg = app.export_screenshot()
    width, height = app.size
    lines = [[" "] * width for _ in range(height)]
    cell = float(_CHAR.search(svg).group(1)) / width if _CHAR.search(svg) else 12.2  # type: ignore[union-attr]
    for x, line, chars in _TEXT.findall(svg):
        column = round(float(x) / cell)
        row = lines[int(line)]
        for i, char in enumerate(html.unescape(chars).replace("\xa0", " ")):
            if column + i < width:
                row[column + i] = char
    return "\n".join("".join(row).rstrip() for row in lines)
