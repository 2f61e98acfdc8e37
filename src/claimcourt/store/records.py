"""What the ledger hands out about runs: typed records, so that no reader re-spells a column or a
status (the statuses are `vocab.ClaimStatus`; the counts are named after them)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from claimcourt.store.db import Row
from claimcourt.vocab import SENT_TO_A_PERSON, ClaimStatus


@dataclass(frozen=True)
class RunCounts:
    """A run's claims counted by status (`ClaimStatus`)."""

    queued: int = 0
    judge: int = 0
    pending_review: int = 0
    human: int = 0
    error: int = 0

    @classmethod
    def of(cls, by_status: Mapping[ClaimStatus, int]) -> RunCounts:
        """From {status: count}; statuses with no claims may be left out."""
        return cls(**{status.value: int(by_status.get(status, 0)) for status in ClaimStatus})

    def __getitem__(self, status: ClaimStatus) -> int:
        return int(getattr(self, ClaimStatus(status).value))

    @property
    def total(self) -> int:
        return sum(self[status] for status in ClaimStatus)

    @property
    def sent_to_a_person(self) -> int:
        """Decided by a person or waiting for one (a review session turns the one into the other)."""
        return sum(self[status] for status in SENT_TO_A_PERSON)


@dataclass(frozen=True)
class LedgerRun:
    """A run as the ledger recorded it when it started (a run keeps its threshold and settings)."""

    run_id: str
    created_at: str
    input_file: str | None
    profile: str | None
    threshold: float | None
    embedding_model: str | None
    settings_json: str | None = None

    def recorded_settings(self) -> dict[str, Any]:
        """The settings the run started with (secrets left out), {} where none were recorded."""
        raw = self.settings_json
        return json.loads(raw) if isinstance(raw, str) and raw else {}

    @classmethod
    def of(cls, row: Row) -> LedgerRun:
        threshold = row["threshold"]
        return cls(
            run_id=row["run_id"],
            created_at=row["created_at"],
            input_file=row["input_file"],
            profile=row["profile"],
            threshold=float(threshold) if threshold is not None else None,
            embedding_model=row["embedding_model"],
            settings_json=row["settings_json"],
        )


@dataclass(frozen=True)
class RunOverview:
    """A run with its claims counted by status: one row of `claimcourt runs`, `pending`, the web's list."""

    run: LedgerRun
    counts: RunCounts = field(default_factory=RunCounts)

    @property
    def run_id(self) -> str:
        return self.run.run_id


def counted_by_status(rows: Iterable[Row]) -> RunCounts:
    """`RunCounts` from rows of (status, n)."""
    return RunCounts.of({ClaimStatus(row["status"]): int(row["n"]) for row in rows})
