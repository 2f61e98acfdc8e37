from __future__ import annotations

from pathlib import Path

import pytest

from claimcourt.errors import InputError
from claimcourt.review.bulk import read_decisions


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_ids_labels_notes_and_reviewers(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", "id,label,note,reviewer\n007,1,looks green,ann\n8,0,,\n\n")
    decisions = read_decisions(path)
    assert [(d.claim_id, d.label, d.note, d.reviewer) for d in decisions] == [
        ("007", 1, "looks green", "ann"),
        ("8", 0, None, None),
    ]


def test_a_note_is_kept_as_its_cell_holds_it_in_a_windows_file(tmp_path: Path) -> None:
    # Rows end with CRLF (Windows); the first note has Excel's in-cell line break (LF), the second a lone CR.
    path = tmp_path / "d.csv"
    path.write_bytes(b'id,label,note\r\n1,1,"first\nsecond"\r\n2,0,"left\rright"\r\n')
    assert [d.note for d in read_decisions(path)] == ["first\nsecond", "left\rright"]


def test_label_other_than_0_or_1_names_row_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", "id,label\n1,1\n2,yes\n")
    with pytest.raises(InputError) as info:
        read_decisions(path)
    assert "row 2" in info.value.message
    assert "column 'label'" in info.value.message
    assert "0 or 1" in info.value.message


def test_duplicate_id_names_both_rows(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.csv", "id,label\n1,1\n2,0\n1,0\n")
    with pytest.raises(InputError) as info:
        read_decisions(path)
    assert "duplicate id '1'" in info.value.message
    assert "row 3" in info.value.message
    assert "row 1" in info.value.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("id,note\n1,x\n", "no label column"),
        ("id,label\n", "no decisions"),
        ("id,label\n,1\n", "empty id"),
    ],
)
def test_unusable_files_say_why(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(InputError) as info:
        read_decisions(_write(tmp_path / "d.csv", text))
    assert expected in info.value.message
