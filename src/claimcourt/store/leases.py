"""Leases: a claim on one reviewer's screen is theirs until the lease expires (or they decide or
release it), so two people reviewing one run at once are never shown the same claim.

Taking a lease is one upsert that succeeds only when the claim is free, expired or already this
reviewer's, so it is race-free on SQLite and Postgres alike without locking the table. Lease times
are the clock of the process taking them (machines sharing a Postgres should keep their clocks in
sync, as NTP does).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from claimcourt.errors import RunStateError
from claimcourt.store.db import Database

_TAKE = (
    "INSERT INTO review_leases (run_id, claim_id, reviewer, expires) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (run_id, claim_id) DO UPDATE SET reviewer = excluded.reviewer, expires = excluded.expires "
    "WHERE review_leases.expires < ? OR review_leases.reviewer = excluded.reviewer "
    "RETURNING claim_id"
)


class ReviewLeases:
    def __init__(self, db: Database) -> None:
        self.db = db

    def take_first(
        self,
        run_id: str,
        candidates: Iterable[str],
        reviewer: str,
        *,
        lease_s: float,
        still_wanted: Callable[[str], bool] = lambda _: True,
    ) -> str | None:
        """Lease the first of `candidates` (in order) that no one else holds unexpired and that is
        `still_wanted` once leased (checked in the same transaction: the candidates were listed
        before, and another reviewer may have decided one since); its id, or None."""
        now = time.time()
        held = self.holders(run_id, now=now)
        for claim_id in candidates:
            if held.get(claim_id, reviewer) != reviewer:
                continue
            with self.db.transaction():
                if not self._upsert(run_id, claim_id, reviewer, now=now, lease_s=lease_s):
                    continue
                if still_wanted(claim_id):
                    return claim_id
                self.release(run_id, claim_id, reviewer)
        return None

    def renew(self, run_id: str, claim_id: str, reviewer: str, *, lease_s: float) -> None:
        """Extend this reviewer's lease (or take it again if it lapsed and nobody took it meanwhile)."""
        now = time.time()
        if not self._upsert(run_id, claim_id, reviewer, now=now, lease_s=lease_s):
            holder = self.holders(run_id, now=now).get(claim_id, "someone else")
            raise RunStateError(f"claim '{claim_id}' is now on {holder}'s screen: your lease on it lapsed")

    def release(self, run_id: str, claim_id: str, reviewer: str) -> None:
        with self.db.transaction():
            self.db.execute(
                "DELETE FROM review_leases WHERE run_id = ? AND claim_id = ? AND reviewer = ?",
                (run_id, claim_id, reviewer),
            )

    def holder(self, run_id: str, claim_id: str) -> str | None:
        """Who holds an unexpired lease on the claim, if anyone."""
        row = self.db.query_one(
            "SELECT reviewer FROM review_leases WHERE run_id = ? AND claim_id = ? AND expires >= ?",
            (run_id, claim_id, time.time()),
        )
        return str(row["reviewer"]) if row else None

    def holders(self, run_id: str, *, now: float | None = None) -> dict[str, str]:
        """claim id -> reviewer, for every unexpired lease in the run."""
        rows = self.db.query(
            "SELECT claim_id, reviewer FROM review_leases WHERE run_id = ? AND expires >= ?",
            (run_id, time.time() if now is None else now),
        )
        return {r["claim_id"]: r["reviewer"] for r in rows}

    def _upsert(self, run_id: str, claim_id: str, reviewer: str, *, now: float, lease_s: float) -> bool:
        with self.db.transaction():
            row = self.db.query_one(_TAKE, (run_id, claim_id, reviewer, now + lease_s, now))
        return row is not None
