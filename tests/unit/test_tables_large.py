"""Validation of large files: duplicate ids found exactly, with memory that does not grow with the file."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from claimcourt.errors import InputError
from claimcourt.seen_ids import SeenIds
from claimcourt.tables import ClaimTable


def many_claims(path: Path, count: int, *, repeat: tuple[int, int] | None = None) -> Path:
    """`count` claims with ids id-0..; `repeat=(first, later)` gives row `later` the id of row `first`."""
    with path.open("w", encoding="utf-8") as fh:
        fh.write("id,text\n")
        for i in range(count):
            n = repeat[0] - 1 if repeat is not None and i == repeat[1] - 1 else i
            fh.write(f"patent-{n:09d},A claim number {i}.\n")
    return path


@pytest.mark.parametrize(
    ("first", "later"),
    [
        (5, 9),  # both in the first in-memory batch
        (3, SeenIds._BATCH + 7),  # the first one already moved to disk
        (SeenIds._BATCH * 2 + 1, SeenIds._BATCH * 2 + 50),  # both in the last, partial batch
    ],
)
def test_every_duplicate_is_found_with_both_rows(tmp_path: Path, first: int, later: int) -> None:
    path = many_claims(tmp_path / "c.csv", SeenIds._BATCH * 2 + 100, repeat=(first, later))
    with pytest.raises(InputError) as caught:
        ClaimTable(path).validate()
    assert caught.value.row == later
    assert f"patent-{first - 1:09d}" in caught.value.message and f"first seen at row {first}" in caught.value.message


def test_validation_memory_does_not_hold_every_id(tmp_path: Path) -> None:
    path = many_claims(tmp_path / "c.csv", 200_000)
    tracemalloc.start()
    try:
        assert ClaimTable(path).validate() == 200_000
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 200,000 ids held in a dict take ~30 MiB; the on-disk set holds one batch of ids at a time.
    assert peak < 12 * 2**20, f"{peak / 2**20:.1f} MiB"
