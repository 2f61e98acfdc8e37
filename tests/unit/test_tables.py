from __future__ import annotations

from pathlib import Path

import pytest

from claimcourt.errors import InputError
from claimcourt.tables import ClaimTable


def write(path: Path, content: bytes | str) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_ids_stay_strings_and_quoted_multiline_text_survives(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", 'id,text\n00123,"1. A claim,\nwith a comma and a newline"\nUS-9,plain\n')
    rows = list(ClaimTable(path).rows())
    assert [r.id for r in rows] == ["00123", "US-9"]
    assert rows[0].text == "1. A claim,\nwith a comma and a newline"
    assert [r.row for r in rows] == [1, 2]


def test_autodetects_alternative_column_names(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "doc_id,claim,is_green_y02\na,some claim,1\n")
    table = ClaimTable(path, with_labels=True)
    assert (table.id_col, table.text_col, table.label_col) == ("doc_id", "claim", "is_green_y02")
    assert next(table.rows()).label == 1


def test_utf8_bom_header_is_accepted(tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", b"\xef\xbb\xbfid,text\n1,hello\n")
    assert next(ClaimTable(path).rows()).id == "1"


@pytest.mark.parametrize(
    ("content", "kwargs", "expected"),
    [
        ("id,text\n1,a\n1,b\n", {}, "row 2, column 'id': duplicate id '1' (first seen at row 1)"),
        ("id,text\n1,a\n2,   \n", {}, "row 2, column 'text': empty claim text"),
        ("id,text\n1,a\n,b\n", {}, "row 2, column 'id': empty id"),
        ('id,text\n1,a\n"two\nlines",b\n', {}, "row 2, column 'id': id 'two\\nlines' holds a line break"),
        ('id,text\n"a\rb",b\n', {}, "row 1, column 'id': id 'a\\rb' holds a line break"),
        ("id,text,label\n1,a,1\n2,b,yes\n", {"with_labels": True}, "row 2, column 'label': label must be 0 or 1"),
        ("id,text,label\n1,a,\n", {"with_labels": True}, "got an empty value"),
        ("id,doc_id,text\n1,2,a\n", {}, "ambiguous id column: id, doc_id"),
        ("x,text\n1,a\n", {}, "no id column found"),
        ("id,text\n1,a\n", {"text_col": "claim"}, "column 'claim': no text column named 'claim'"),
        ("id,text\n1,a,extra\n", {}, "row 1: has 3 fields but the header has 2"),
        ("id,text\n", {}, "no claims in the file"),
        ("", {}, "the file is empty"),
    ],
)
def test_bad_rows_name_file_row_and_column(tmp_path: Path, content: str, kwargs: dict, expected: str) -> None:
    path = write(tmp_path / "bad.csv", content)
    with pytest.raises(InputError) as err:
        ClaimTable(path, **kwargs).validate()
    assert str(err.value).startswith(str(path))
    assert expected in str(err.value)


def test_non_utf8_bytes_name_the_row_and_column(tmp_path: Path) -> None:
    path = write(tmp_path / "latin1.csv", b"id,text\n1,fine\n2,caf\xe9 au lait\n")
    with pytest.raises(InputError, match=r"row 2, column 'text': contains bytes that are not UTF-8"):
        ClaimTable(path).validate()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        ClaimTable(tmp_path / "nope.csv")


def test_chunks_stream_in_order(tmp_path: Path) -> None:
    lines = "".join(f"{i},claim {i}\n" for i in range(25))
    path = write(tmp_path / "c.csv", "id,text\n" + lines)
    chunks = list(ClaimTable(path).chunks(10))
    assert [len(c) for c in chunks] == [10, 10, 5]
    assert [r.id for c in chunks for r in c] == [str(i) for i in range(25)]


def test_parquet_with_integer_ids(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "c.parquet"
    pq.write_table(pa.table({"id": [9811268, 42], "text": ["a", "b"], "label": [1, 0]}), path)
    rows = list(ClaimTable(path, with_labels=True).rows())
    assert [(r.id, r.label) for r in rows] == [("9811268", 1), ("42", 0)]
