"""Every human decision, kept in a `reviews` table of the run ledger (runs.sqlite).

The claim's thread holds one decision: the one that resumed its `human_review` interrupt. A second
opinion on a claim already decided cannot resume the finished thread again, so every decision
(the first and any others) is recorded here too, with what the person was shown and when: export and
agreement read from this one place. The table shares the ledger's connection, so a decision and the
claim's new status commit in one transaction.

An undone decision is not deleted: it keeps its row with `undone_at` set, so the record says what
happened. Only active rows (undone_at IS NULL) count anywhere.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from claimcourt.state import utc_now

Source = Literal["interactive", "bulk", "recovered", "trace"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS reviews (
    review_id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    claim_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    label INTEGER NOT NULL CHECK (label IN (0, 1)),
    note TEXT,
    verdict_shown INTEGER NOT NULL,
    shown_json TEXT NOT NULL,
    judge_label INTEGER,
    judge_confidence REAL,
    resumed_thread INTEGER NOT NULL,
    source TEXT NOT NULL,
    session_id TEXT,
    shown_at TEXT,
    decided_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    undone_at TEXT
);
CREATE INDEX IF NOT EXISTS reviews_by_claim ON reviews (run_id, claim_id);
CREATE INDEX IF NOT EXISTS reviews_by_reviewer ON reviews (reviewer, run_id);
"""


@dataclass(frozen=True)
class Review:
    """One person's decision on one claim."""

    run_id: str
    claim_id: str
    reviewer: str
    label: int
    note: str | None
    verdict_shown: bool
    # What the person had on screen before deciding, e.g. ["claim", "neighbours", "arguments"].
    shown: tuple[str, ...]
    judge_label: int | None
    judge_confidence: float | None
    # True for the decision that resumed the claim's thread (its final label); False for a second opinion.
    resumed_thread: bool
    source: Source
    decided_at: str
    shown_at: str | None = None
    session_id: str | None = None
    review_id: int | None = None
    recorded_at: str | None = None
    undone_at: str | None = None

    @property
    def kind(self) -> str:
        return "final" if self.resumed_thread else "second opinion"


def _review(row: sqlite3.Row) -> Review:
    return Review(
        review_id=row["review_id"],
        run_id=row["run_id"],
        claim_id=row["claim_id"],
        reviewer=row["reviewer"],
        label=row["label"],
        note=row["note"],
        verdict_shown=bool(row["verdict_shown"]),
        shown=tuple(json.loads(row["shown_json"])),
        judge_label=row["judge_label"],
        judge_confidence=row["judge_confidence"],
        resumed_thread=bool(row["resumed_thread"]),
        source=row["source"],
        session_id=row["session_id"],
        shown_at=row["shown_at"],
        decided_at=row["decided_at"],
        recorded_at=row["recorded_at"],
        undone_at=row["undone_at"],
    )


class ReviewStore:
    """The reviews table, on a connection the caller owns (the ledger's). Writes do not commit: the
    caller commits them together with the ledger's change of status."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'reviews'").fetchone()
        if exists is None:
            # Only the first session creates it; later ones need no write lock just to open the store.
            with conn:
                conn.executescript(SCHEMA)

    def add(self, review: Review) -> int:
        cur = self.conn.execute(
            """
            INSERT INTO reviews (run_id, claim_id, reviewer, label, note, verdict_shown, shown_json,
                                 judge_label, judge_confidence, resumed_thread, source, session_id,
                                 shown_at, decided_at, recorded_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            (
                review.run_id,
                review.claim_id,
                review.reviewer,
                review.label,
                review.note,
                int(review.verdict_shown),
                json.dumps(list(review.shown)),
                review.judge_label,
                review.judge_confidence,
                int(review.resumed_thread),
                review.source,
                review.session_id,
                review.shown_at,
                review.decided_at,
                utc_now(),
            ),
        )
        return int(cur.lastrowid or 0)

    def mark_undone(self, review_ids: Sequence[int]) -> None:
        now = utc_now()
        self.conn.executemany(
            "UPDATE reviews SET undone_at = ? WHERE review_id = ? AND undone_at IS NULL",
            [(now, review_id) for review_id in review_ids],
        )

    def active(self, *, run_id: str | None = None, claim_id: str | None = None) -> list[Review]:
        query = "SELECT * FROM reviews WHERE undone_at IS NULL"
        params: list[str] = []
        if run_id is not None:
            query += " AND run_id = ?"
            params.append(run_id)
        if claim_id is not None:
            query += " AND claim_id = ?"
            params.append(claim_id)
        return [_review(r) for r in self.conn.execute(query + " ORDER BY review_id", params)]

    def last_active_by(self, reviewer: str, run_id: str) -> Review | None:
        row = self.conn.execute(
            "SELECT * FROM reviews WHERE reviewer = ? AND run_id = ? AND undone_at IS NULL "
            "ORDER BY review_id DESC LIMIT 1",
            (reviewer, run_id),
        ).fetchone()
        return _review(row) if row is not None else None

    def reviewers_of(self, run_id: str) -> dict[str, set[str]]:
        """claim id -> the reviewers with an active decision on it."""
        found: dict[str, set[str]] = {}
        for r in self.conn.execute(
            "SELECT claim_id, reviewer FROM reviews WHERE run_id = ? AND undone_at IS NULL", (run_id,)
        ):
            found.setdefault(r["claim_id"], set()).add(r["reviewer"])
        return found

    def all_active(self) -> Iterator[Review]:
        for r in self.conn.execute("SELECT * FROM reviews WHERE undone_at IS NULL ORDER BY review_id"):
            yield _review(r)
