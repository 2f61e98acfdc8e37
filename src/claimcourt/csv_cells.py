"""CSV cells a spreadsheet will not run as formulas.

A spreadsheet opening a CSV treats a cell that starts with `=`, `+`, `-` or `@` (also after leading
spaces), or with a tab or carriage return, as a formula: a claim text or note that starts so would run
in the reader's spreadsheet. Every CSV claimcourt writes passes its text cells through `spreadsheet_safe`,
which prefixes such a cell with `'` (what OWASP and spreadsheet-safe exporters do); numbers claimcourt
writes itself (p_green, confidence...) are not text and stay numbers. Parquet and JSONL keep the exact
text. claimcourt's own readers take the `'` back off (`from_spreadsheet_safe`), so a file it wrote reads
back as it was.
"""

from __future__ import annotations

import re
from typing import Any

# A formula trigger after optional spaces, or a tab / carriage return at the very start.
_FORMULA_START = re.compile(r"^(?:\s*[=+\-@]|[\t\r])")
_NEUTRALISED = re.compile(r"^'(?:\s*[=+\-@]|[\t\r])")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell that would start a formula, prefixed with `'`; anything else unchanged."""
    if isinstance(value, str) and _FORMULA_START.match(value):
        return "'" + value
    return value


def from_spreadsheet_safe(value: str) -> str:
    """The text `spreadsheet_safe` was given (a cell it did not change is returned as it is)."""
    return value[1:] if value[:1] == "'" and _NEUTRALISED.match(value) else value
