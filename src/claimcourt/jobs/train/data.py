"""The training table: read through the one table reader, each row's label source checked, and split
into the rows trained on and the held-out share the evaluation scores.

The split is stratified by label and source and drawn from `seed`, so a rerun (a resumed run) holds
out the same claims; `fingerprint` names the table's content, so a resumed run can tell that it is
still training on the same data.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claimcourt.errors import InputError
from claimcourt.tables import ClaimTable

HUMAN = "human"
SILVER = "silver"
SOURCES = (HUMAN, SILVER)


@dataclass(frozen=True)
class Columns:
    """Column names given on the command line (None: the table reader's defaults)."""

    id_col: str | None = None
    text_col: str | None = None
    label_col: str | None = None
    source_col: str | None = None


@dataclass(frozen=True)
class TrainingRow:
    id: str
    text: str
    label: int
    human: bool


@dataclass(frozen=True)
class TrainingData:
    path: Path
    train: list[TrainingRow]
    held_out: list[TrainingRow]
    fingerprint: str
    source_column: str | None

    def counts(self) -> dict[str, Any]:
        """Claims per part, label and source: what the card records."""

        def part(rows: list[TrainingRow]) -> dict[str, int]:
            return {
                "claims": len(rows),
                "green": sum(r.label for r in rows),
                "not_green": sum(1 - r.label for r in rows),
                HUMAN: sum(r.human for r in rows),
                SILVER: sum(not r.human for r in rows),
            }

        return {"train": part(self.train), "held_out": part(self.held_out)}


def read_training_table(
    path: Path,
    *,
    held_out: float,
    seed: int,
    columns: Columns | None = None,
) -> TrainingData:
    """Every row of the table (id, text, 0/1 label; `label_source` human | silver where the table has
    one, else every label counts as silver), validated before any of it is used."""
    cols = columns or Columns()
    table = ClaimTable(
        path,
        id_col=cols.id_col,
        text_col=cols.text_col,
        label_col=cols.label_col,
        with_labels=True,
        source_col=cols.source_col,
        with_source=True,
    )
    table.validate()  # duplicates and bad rows anywhere in the file, before a model loads
    rows: list[TrainingRow] = []
    digest = hashlib.sha256()
    for claim in table.rows():
        if table.source_col is not None and claim.source not in SOURCES:
            shown = "an empty value" if claim.source is None else repr(claim.source)
            raise InputError(
                f"label source must be human or silver, got {shown}", file=path, row=claim.row, column=table.source_col
            )
        assert claim.label is not None  # with_labels
        row = TrainingRow(claim.id, claim.text, claim.label, claim.source == HUMAN)
        rows.append(row)
        digest.update(f"{row.id}\x1f{row.text}\x1f{row.label}\x1f{int(row.human)}\x1e".encode())
    train, kept = split(rows, held_out=held_out, seed=seed)
    if not train:
        raise InputError(f"held_out {held_out} leaves no claim to train on ({len(rows)} in the file)", file=path)
    return TrainingData(path, train, kept, digest.hexdigest(), table.source_col)


def split(rows: list[TrainingRow], *, held_out: float, seed: int) -> tuple[list[TrainingRow], list[TrainingRow]]:
    """(train, held out): `held_out` of each (label, source) group, rounded, drawn with `seed`."""
    rng = random.Random(seed)
    groups: dict[tuple[int, bool], list[TrainingRow]] = {}
    for row in rows:
        groups.setdefault((row.label, row.human), []).append(row)
    kept_ids: set[str] = set()
    for key in sorted(groups):
        group = sorted(groups[key], key=lambda r: r.id)
        rng.shuffle(group)
        kept_ids.update(r.id for r in group[: round(held_out * len(group))])
    return [r for r in rows if r.id not in kept_ids], [r for r in rows if r.id in kept_ids]
