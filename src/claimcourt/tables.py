"""Reading claim tables (CSV or Parquet) in chunks, with errors that name the file, row and column.

Rows are counted from 1 after the header (row 1 is the first claim). Ids are kept as the strings the
file holds: patent numbers with leading zeros or letters must survive unchanged. A Parquet id column of
floats (pandas writes integer ids with a missing value as float64) is read as integers when every id is
a whole number (`8456130.0` -> `8456130`); a fractional id is refused. A file is never loaded whole: CSV
is parsed line by line, Parquet batch by batch, and `validate` keeps the ids it has seen in a temporary
SQLite file, not in memory.

A quote left open in a CSV would swallow the rows after it into one claim's text. The reader is strict
(a quote must close before the next delimiter, and never at the end of the file), and a quoted field
that runs past `MAX_FIELD_LINES` lines is taken for an unclosed quote: either stops with the row where
the field starts.
"""

from __future__ import annotations

import csv
import fnmatch
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claimcourt.csv_cells import from_spreadsheet_safe
from claimcourt.errors import InputError
from claimcourt.seen_ids import SeenIds

ID_COLUMNS = ("id", "doc_id", "claim_id", "patent_id")
TEXT_COLUMNS = ("text", "claim", "claim_text")
LABEL_COLUMNS = ("label", "is_green*")
# Where a label came from (`export --merge-silver` writes silver | human): optional, read where asked.
SOURCE_COLUMNS = ("label_source",)

csv.field_size_limit(2**31 - 1)  # claims can be long; the csv default (128 KiB) is not a claim limit
# A claim's text may hold line breaks (one per clause); a quoted field longer than this is a quote
# that was never closed.
MAX_FIELD_LINES = 1000


@dataclass(frozen=True)
class ClaimRow:
    row: int
    id: str
    text: str
    label: int | None = None
    source: str | None = None


def _match(columns: Sequence[str], patterns: Sequence[str]) -> list[str]:
    lowered = {c: c.strip().lower() for c in columns}
    return [c for c in columns if any(fnmatch.fnmatchcase(lowered[c], p) for p in patterns)]


def resolve_column(
    path: Path, columns: Sequence[str], given: str | None, candidates: Sequence[str], role: str, flag: str
) -> str:
    if given is not None:
        if given not in columns:
            raise InputError(
                f"no {role} column named '{given}' (columns: {', '.join(columns)})", file=path, column=given
            )
        return given
    found = _match(columns, candidates)
    if not found:
        raise InputError(
            f"no {role} column found (looked for {', '.join(candidates)}; columns: {', '.join(columns)}); "
            f"name it with {flag}",
            file=path,
        )
    if len(found) > 1:
        raise InputError(f"ambiguous {role} column: {', '.join(found)} all match; choose one with {flag}", file=path)
    return found[0]


def parse_label(value: Any, *, path: Path, row: int, column: str) -> int:
    """0 or 1 (also as '0'/'1', 0.0/1.0 or booleans); anything else is an error, never a guess."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, float) and not math.isnan(value) and value in (0.0, 1.0):
        return int(value)
    if isinstance(value, str):
        stripped = value.strip()
        if stripped in ("0", "1"):
            return int(stripped)
        if stripped in ("0.0", "1.0"):
            return int(float(stripped))
        if stripped.lower() in ("true", "false"):
            return int(stripped.lower() == "true")
    shown = "an empty value" if value is None or (isinstance(value, str) and not value.strip()) else repr(value)
    raise InputError(f"label must be 0 or 1, got {shown}", file=path, row=row, column=column)


# The lone surrogates that surrogateescape decoding leaves for bytes that are not UTF-8. A regex, not a
# Python loop over characters: that loop was 90% of the time validation took.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


# Characters no id may hold: the one thing a browser does not post back as it was shown is a line break
# (an HTML form sends CRLF for each of CR, LF and CRLF), and Postgres text cannot hold NUL.
_BROKEN_ID = re.compile("[\r\n\x00]")


def _has_undecodable(value: str) -> bool:
    return _UNDECODABLE.search(value) is not None


def id_text(value: Any, *, path: Path, row: int, column: str) -> str:
    """An id as text; a float id (Parquet) must be a whole number and is written without `.0`."""
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise InputError(
                f"id {value!r} is not a whole number (float ids are read as integers only when whole)",
                file=path,
                row=row,
                column=column,
            )
        return str(int(value))
    return "" if value is None else str(value).strip()


def csv_records(lines: Iterator[str], *, path: Path, width: int) -> Iterator[tuple[int, list[str]]]:
    """(row, fields) of a CSV body (its one header line already read), blank lines skipped, every record
    checked for an unclosed quote and for its width. Line numbers count the header as line 1."""
    reader = csv.reader(lines, strict=True)
    row = 0
    ended_at = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(
                f"malformed CSV from line {ended_at + 1} ({exc}): a quote left open?", file=path, row=row + 1
            ) from exc
        started_at, ended_at = ended_at + 1, reader.line_num + 1
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank line
        row += 1
        if ended_at - started_at >= MAX_FIELD_LINES:
            raise InputError(
                f"a quoted field runs from line {started_at} over {ended_at - started_at + 1} lines: a quote left "
                "open swallows the rows after it",
                file=path,
                row=row,
            )
        if len(fields) != width:
            raise InputError(
                f"has {len(fields)} fields but the header has {width} (unbalanced quotes?)", file=path, row=row
            )
        yield row, fields


def is_parquet(path: Path) -> bool:
    return path.suffix.lower() in (".parquet", ".pq")


def read_columns(path: Path) -> list[str]:
    """The header of a CSV or Parquet table: its column names, each once."""
    if not path.exists():
        raise InputError("file not found", file=path)
    if path.is_dir():
        raise InputError("is a directory, not a CSV or Parquet file", file=path)
    if is_parquet(path):
        import pyarrow.parquet as pq

        try:
            return list(pq.ParquetFile(path).schema_arrow.names)
        except Exception as exc:
            raise InputError(f"not a readable Parquet file ({exc})", file=path) from exc
    with path.open("rb") as fh:
        first = fh.readline()
    if not first.strip():
        raise InputError("the file is empty (no header line)", file=path)
    try:
        header_line = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"header line is not UTF-8 (byte {first[exc.start]:#04x}); save the file as UTF-8", file=path
        ) from exc
    header = next(csv.reader([header_line]))
    names = [h.strip() for h in header]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise InputError(f"the header repeats column(s) {', '.join(duplicated)}", file=path)
    return names


def read_records(path: Path, columns: Sequence[str], wanted: Sequence[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row, {column: value}) of the `wanted` columns of a table whose header is `columns`, streamed: the one
    reader of tables (claims, gold labels, results files). CSV cells come back as the text the file holds
    (a spreadsheet's formula guard taken off); Parquet cells as their values."""
    if is_parquet(path):
        yield from _parquet_records(path, wanted)
    else:
        yield from _csv_records(path, columns, wanted)


def _csv_records(path: Path, columns: Sequence[str], wanted: Sequence[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    index = {c: list(columns).index(c) for c in wanted}
    with path.open("rb") as fh:
        # Decoding with surrogateescape keeps bad bytes visible as lone surrogates, so the error
        # can name the column that holds them instead of a byte offset.
        lines = (line.decode("utf-8-sig" if n == 0 else "utf-8", errors="surrogateescape") for n, line in enumerate(fh))
        if next(lines, None) is None:  # the header (already read by read_columns)
            return
        for row, fields in csv_records(lines, path=path, width=len(columns)):
            values = {c: from_spreadsheet_safe(fields[i]) for c, i in index.items()}
            for column, value in values.items():
                if _has_undecodable(value):
                    raise InputError(
                        "contains bytes that are not UTF-8; save the file as UTF-8", file=path, row=row, column=column
                    )
            yield row, values


def _parquet_records(path: Path, wanted: Sequence[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    row = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=10_000, columns=list(wanted)):
        data = batch.to_pydict()
        for i in range(batch.num_rows):
            row += 1
            yield row, {c: data[c][i] for c in wanted}


class ClaimTable:
    """A CSV or Parquet file of claims: id and text, and a 0/1 label when `with_labels`."""

    def __init__(
        self,
        path: str | Path,
        *,
        id_col: str | None = None,
        text_col: str | None = None,
        label_col: str | None = None,
        with_labels: bool = False,
        source_col: str | None = None,
        with_source: bool = False,
    ) -> None:
        self.path = Path(path)
        self.with_labels = with_labels
        columns = read_columns(self.path)
        self.columns = columns
        self.id_col = resolve_column(self.path, columns, id_col, ID_COLUMNS, "id", "--id-col")
        self.text_col = resolve_column(self.path, columns, text_col, TEXT_COLUMNS, "text", "--text-col")
        self.label_col = (
            resolve_column(self.path, columns, label_col, LABEL_COLUMNS, "label", "--label-col")
            if with_labels
            else None
        )
        # The label's source is optional: a table without one is all of one source.
        self.source_col = None
        if source_col is not None:
            self.source_col = resolve_column(self.path, columns, source_col, (), "label source", "--source-col")
        elif with_source:
            self.source_col = next(iter(_match(columns, SOURCE_COLUMNS)), None)
        if self.id_col == self.text_col:
            raise InputError("the id and text columns must differ", file=self.path, column=self.id_col)

    def _raw_rows(self) -> Iterator[tuple[int, dict[str, Any]]]:
        wanted = [c for c in (self.id_col, self.text_col, self.label_col, self.source_col) if c is not None]
        return read_records(self.path, self.columns, wanted)

    def rows(self) -> Iterator[ClaimRow]:
        """Validated rows: non-empty id and text, 0/1 labels where asked. Duplicates are checked by
        `validate` (a whole-file property), not here."""
        for row, values in self._raw_rows():
            claim_id = id_text(values[self.id_col], path=self.path, row=row, column=self.id_col)
            if not claim_id:
                raise InputError("empty id", file=self.path, row=row, column=self.id_col)
            if _BROKEN_ID.search(claim_id):
                raise InputError(
                    f"id {claim_id[:80]!r} holds a line break or a NUL character: an id must be one line "
                    "(a browser's form turns a line break into another, and Postgres refuses NUL)",
                    file=self.path,
                    row=row,
                    column=self.id_col,
                )
            raw_text = values[self.text_col]
            text = "" if raw_text is None else str(raw_text).strip()
            if not text:
                raise InputError("empty claim text", file=self.path, row=row, column=self.text_col)
            label = None
            if self.label_col is not None:
                label = parse_label(values[self.label_col], path=self.path, row=row, column=self.label_col)
            source = None
            if self.source_col is not None and values[self.source_col] is not None:
                source = str(values[self.source_col]).strip().lower() or None
            yield ClaimRow(row=row, id=claim_id, text=text, label=label, source=source)

    def chunks(self, size: int) -> Iterator[list[ClaimRow]]:
        chunk: list[ClaimRow] = []
        for claim in self.rows():
            chunk.append(claim)
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def validate(self) -> int:
        """One streaming pass over the whole file, before any work starts: a bad row at the end is
        found before hours are spent on the rows above it. Returns the number of claims."""
        seen = SeenIds()
        count = 0
        try:
            for claim in self.rows():
                repeated = seen.add(claim.id, claim.row)
                if repeated is not None:
                    self._duplicate(repeated)
                count += 1
            repeated = seen.flush()
            if repeated is not None:
                self._duplicate(repeated)
        finally:
            seen.close()
        if count == 0:
            raise InputError("no claims in the file", file=self.path)
        return count

    def _duplicate(self, repeated: tuple[str, int, int]) -> None:
        claim_id, first, row = repeated
        raise InputError(
            f"duplicate id '{claim_id}' (first seen at row {first})", file=self.path, row=row, column=self.id_col
        )
