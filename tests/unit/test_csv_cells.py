from __future__ import annotations

import pytest

from claimcourt.csv_cells import from_spreadsheet_safe, spreadsheet_safe


@pytest.mark.parametrize(
    "cell", ["=1+1", "+SUM(A1)", "-2", "@cmd", "  =HYPERLINK(x)", "\t=x", "\tplain", "\rplain", "\n =1"]
)
def test_formula_starts_are_prefixed_and_read_back(cell: str) -> None:
    safe = spreadsheet_safe(cell)
    assert safe == "'" + cell
    assert from_spreadsheet_safe(safe) == cell


@pytest.mark.parametrize("value", ["1. A solar panel", "plain = text", "a-b", "", "'already quoted", -0.25, 3, None])
def test_other_cells_and_numbers_are_unchanged(value: object) -> None:
    assert spreadsheet_safe(value) == value
    if isinstance(value, str):
        assert from_spreadsheet_safe(value) == value
