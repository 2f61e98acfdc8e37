"""Every human decision, kept in a `reviews` table beside the run ledger.

The claim's thread holds one decision: the one that resumed its `human_review` interrupt. A second
opinion on a claim already decided cannot resume the finished thread again, so every decision
(the first and any others) is recorded here too, with what the person was shown and when: export and
agreement read from this one place. The table shares the ledger's database, so a decision and the
claim's new status commit in one transaction (`Store.transaction()`).

An undone decision is not deleted: it keeps its row with `undone_at` set, so the record says what
happened. Only active rows (undone_at IS NULL) count anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from claimcourt.state import utc_now
from claimcourt.store.db import Database, Row

# "server": a decision that resumed a thread on the LangGraph server (`claimcourt.server`).
Source = Literal["interactive", "bulk", "recovered", "trace", "server"]


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


def _review(row: Row) -> Review:
    return Review(
        review_id=row["review_id"],
        run_id=row["run_id"],
        claim_id=row["claim_id"],
        reviewer=row["reviewer"],
        label=int(row["label"]),
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
    """The reviews table. Writes join the caller's transaction, so a decision commits together with
    the ledger's change of status."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(self, review: Review) -> int:
        with self.db.transaction():
            row = self.db.query_one(
                """
                INSERT INTO reviews (run_id, claim_id, reviewer, label, note, verdict_shown, shown_json,
                                     judge_label, judge_confidence, resumed_thread, source, session_id,
                                     shown_at, decided_at, recorded_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                RETURNING review_id
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
        return int(row["review_id"]) if row else 0

    def mark_undone(self, review_ids: Sequence[int]) -> None:
        now = utc_now()
        with self.db.transaction():
            self.db.executemany(
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
        return [_review(r) for r in self.db.query(query + " ORDER BY review_id", params)]

    def last_active_by(self, reviewer: str, run_id: str) -> Review | None:
        row = self.db.query_one(
            "SELECT * FROM reviews WHERE reviewer = ? AND run_id = ? AND undone_at IS NULL "
            "ORDER BY review_id DESC LIMIT 1",
            (reviewer, run_id),
        )
        return _review(row) if row is not None else None

    def reviewers_of(self, run_id: str, *, undone_too: bool = False) -> dict[str, set[str]]:
        """claim id -> the reviewers with an active decision on it (`undone_too`: with any decision on it,
        undone ones included: the people who have seen its verdict revealed)."""
        found: dict[str, set[str]] = {}
        active = "" if undone_too else " AND undone_at IS NULL"
        for r in self.db.query("SELECT claim_id, reviewer FROM reviews WHERE run_id = ?" + active, (run_id,)):
            found.setdefault(r["claim_id"], set()).add(r["reviewer"])
        return found

    def all_active(self) -> Iterator[Review]:
        yield from (
            _review(r) for r in self.db.query("SELECT * FROM reviews WHERE undone_at IS NULL ORDER BY review_id")
        )

    def every(self, *, run_id: str | None = None) -> list[Review]:
        """Every decision (undone and revised ones too), oldest first; of one run or of all."""
        where, params = (" WHERE run_id = ?", (run_id,)) if run_id is not None else ("", ())
        return [_review(r) for r in self.db.query("SELECT * FROM reviews" + where + " ORDER BY review_id", params)]

    def history(self, *, run_id: str, claim_id: str) -> list[Review]:
        """Every decision on the claim, undone and revised ones too, oldest first."""
        rows = self.db.query(
            "SELECT * FROM reviews WHERE run_id = ? AND claim_id = ? ORDER BY review_id", (run_id, claim_id)
        )
        return [_review(r) for r in rows]

    def remember_position(self, run_id: str, reviewer: str, claim_id: str) -> None:
        """Where the reviewer stopped: written when a claim is shown, outside any decision."""
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO reviewer_positions (run_id, reviewer, claim_id, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (run_id, reviewer) DO UPDATE SET claim_id = excluded.claim_id, "
                "updated_at = excluded.updated_at",
                (run_id, reviewer, claim_id, utc_now()),
            )

    def position(self, run_id: str, reviewer: str) -> str | None:
        row = self.db.query_one(
            "SELECT claim_id FROM reviewer_positions WHERE run_id = ? AND reviewer = ?", (run_id, reviewer)
        )
        return str(row["claim_id"]) if row is not None else None
