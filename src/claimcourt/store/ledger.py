"""The run ledger: an index over the claims' threads (which claims belong to a run, in input order,
and where each stands), so that listing a run, writing its results or finding what waits for a person
never has to walk every checkpoint. Anything it lacks after a crash is recovered from the threads."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claimcourt.config import Settings
from claimcourt.errors import RunStateError
from claimcourt.state import ClaimState, utc_now
from claimcourt.store.db import Database, Row
from claimcourt.store.records import LedgerRun, RunCounts, RunOverview, counted_by_status
from claimcourt.urls import without_secrets
from claimcourt.vocab import TO_DEBATE, ClaimStatus

# SQLite allows 999 parameters per statement in older builds: ask for ids in parts.
_IN_PART = 500
_PAGE = 1000


@dataclass(frozen=True)
class LedgerClaim:
    run_id: str
    claim_id: str
    seq: int
    status: ClaimStatus
    record: dict[str, Any] | None
    error: str | None
    updated_at: str

    def state(self) -> ClaimState | None:
        return ClaimState.model_validate(self.record) if self.record else None


def _ledger_claim(row: Row) -> LedgerClaim:
    return LedgerClaim(
        run_id=row["run_id"],
        claim_id=row["claim_id"],
        seq=row["seq"],
        status=ClaimStatus(row["status"]),
        record=json.loads(row["record_json"]) if row["record_json"] else None,
        error=row["error"],
        updated_at=row["updated_at"],
    )


def _unless_taken_over(worker: str | None) -> tuple[str, tuple[str, ...]]:
    """The condition (and its parameters) under which `worker` may still record a claim's outcome: the
    claim is not finished, and no other worker holds it. None: no condition."""
    if worker is None:
        return "", ()
    to_debate = sorted(TO_DEBATE)
    marks = ", ".join("?" * len(to_debate))
    return f" AND status IN ({marks}) AND (lease_owner IS NULL OR lease_owner = ?)", (*to_debate, worker)


class Ledger:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- runs -------------------------------------------------------------------------------------
    def ensure_run(self, run_id: str, *, input_file: str, settings: Settings) -> bool:
        """Record a run; returns True when it is new. A run keeps the threshold it started with."""
        with self.db.transaction():
            changed = self.db.execute(
                "INSERT INTO runs (run_id, created_at, input_file, profile, threshold, embedding_model, settings_json) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    run_id,
                    utc_now(),
                    input_file,
                    settings.profile,
                    settings.threshold,
                    settings.embedding_model,
                    json.dumps(without_secrets(settings.model_dump(mode="json"))),
                ),
            )
        return changed == 1

    def run(self, run_id: str) -> LedgerRun:
        found = self.db.query_one("SELECT * FROM runs WHERE run_id = ?", (run_id,))
        if found is None:
            known = ", ".join(r["run_id"] for r in self.db.query("SELECT run_id FROM runs ORDER BY created_at"))
            raise RunStateError(f"unknown run id '{run_id}' (known runs: {known or 'none'})")
        return LedgerRun.of(found)

    def runs(self) -> list[RunOverview]:
        """Every run, oldest first, with its claims counted by status."""
        # One row per run and status (one with a NULL status for a run without claims), in one query.
        rows = self.db.query(
            "SELECT r.*, c.status, COUNT(c.claim_id) AS n FROM runs r LEFT JOIN claims c ON c.run_id = r.run_id "
            "GROUP BY r.run_id, r.created_at, r.input_file, r.profile, r.threshold, r.embedding_model, "
            "r.settings_json, r.claims_registered, c.status ORDER BY r.created_at, r.run_id"
        )
        runs: dict[str, LedgerRun] = {}
        by_run: dict[str, list[Row]] = {}
        for r in rows:
            runs.setdefault(r["run_id"], LedgerRun.of(r))
            by_run.setdefault(r["run_id"], []).extend([r] if r["status"] is not None else [])
        return [RunOverview(run, counted_by_status(by_run[run_id])) for run_id, run in runs.items()]

    # -- claims -----------------------------------------------------------------------------------
    def add_claims(
        self, run_id: str, claims: Sequence[tuple[str, int]], *, texts: Sequence[str] | None = None
    ) -> set[str]:
        """Queue (claim_id, seq) pairs (with their texts, for runs shared by several workers);
        returns the ids that were already in the run."""
        ids = [claim_id for claim_id, _ in claims]
        now = utc_now()
        with self.db.transaction():
            known = self.statuses(run_id, ids)
            self.db.executemany(
                "INSERT INTO claims (run_id, claim_id, seq, status, updated_at, text) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [
                    (run_id, claim_id, seq, ClaimStatus.QUEUED, now, texts[i] if texts is not None else None)
                    for i, (claim_id, seq) in enumerate(claims)
                ],
            )
        return set(known)

    def statuses(self, run_id: str, claim_ids: Sequence[str]) -> dict[str, ClaimStatus]:
        found: dict[str, ClaimStatus] = {}
        for start in range(0, len(claim_ids), _IN_PART):
            part = list(claim_ids[start : start + _IN_PART])
            marks = ",".join("?" * len(part))
            for r in self.db.query(
                f"SELECT claim_id, status FROM claims WHERE run_id = ? AND claim_id IN ({marks})",
                (run_id, *part),
            ):
                found[r["claim_id"]] = ClaimStatus(r["status"])
        return found

    def lock_claim(self, run_id: str, claim_id: str) -> ClaimStatus | None:
        """The claim's status, locked until the current transaction ends (Postgres: its row; SQLite:
        the transaction already holds the database's write lock), so two sessions never resume one
        claim's thread at once. None when the run has no such claim."""
        if not self.db.in_transaction:
            raise RuntimeError("lock_claim needs a transaction")
        lock = " FOR UPDATE" if self.db.dialect == "postgres" else ""
        row = self.db.query_one(
            f"SELECT status FROM claims WHERE run_id = ? AND claim_id = ?{lock}", (run_id, claim_id)
        )
        return ClaimStatus(row["status"]) if row else None

    def record(self, run_id: str, state: ClaimState, *, by: str | None = None) -> bool:
        """The claim's state as its thread now holds it (call inside a transaction to batch). Ends the
        claim's work lease. Returns whether it was written.

        `by`: the worker that debated it. A worker's result is written only while the claim is still
        its to finish (queued or failed, leased to it or to no one): a worker that stalled past its
        lease, whose claim another worker then took over and finished, and a person perhaps decided,
        must not write its late result over theirs. Without `by` (a person's decision, a repair, a
        trace), the state is written whatever the claim's status."""
        written = {
            "status": state.decided_by or ClaimStatus.QUEUED,
            "record_json": state.model_dump_json(),
            "error": None,
        }
        return self._finish(run_id, state.claim_id, written, by=by)

    def record_error(self, run_id: str, claim_id: str, error: str, *, by: str | None = None) -> bool:
        """The claim failed; `by` as for `record`. Returns whether it was written."""
        return self._finish(run_id, claim_id, {"status": ClaimStatus.ERROR, "error": error}, by=by)

    def _finish(self, run_id: str, claim_id: str, written: dict[str, Any], *, by: str | None) -> bool:
        """Write the claim's outcome (`written`: column -> value) and end its work lease; `by` as for `record`."""
        guard, owner = _unless_taken_over(by)
        assigned = "".join(f"{column} = ?, " for column in written)
        with self.db.transaction():
            changed = self.db.execute(
                f"UPDATE claims SET {assigned}updated_at = ?, lease_owner = NULL, lease_expires = NULL, "
                f"finished_by = COALESCE(?, finished_by) WHERE run_id = ? AND claim_id = ?{guard}",
                (*written.values(), utc_now(), by, run_id, claim_id, *owner),
            )
        return changed == 1

    def claims(self, run_id: str, *, status: ClaimStatus | None = None) -> Iterator[LedgerClaim]:
        """The run's claims in input order, read a page at a time (a run may hold millions)."""
        where = "run_id = ?" + (" AND status = ?" if status is not None else "")
        base: list[Any] = [run_id] + ([status] if status is not None else [])
        after: tuple[int, str] | None = None
        while True:
            query, params = f"SELECT * FROM claims WHERE {where}", list(base)
            if after is not None:
                query += " AND (seq > ? OR (seq = ? AND claim_id > ?))"
                params += [after[0], after[0], after[1]]
            page = self.db.query(query + f" ORDER BY seq, claim_id LIMIT {_PAGE}", params)
            for r in page:
                yield _ledger_claim(r)
            if len(page) < _PAGE:
                return
            after = (page[-1]["seq"], page[-1]["claim_id"])

    def claim(self, run_id: str, claim_id: str) -> LedgerClaim | None:
        """One claim of a run by its key (`claims` would walk the whole run)."""
        row = self.db.query_one("SELECT * FROM claims WHERE run_id = ? AND claim_id = ?", (run_id, claim_id))
        return _ledger_claim(row) if row else None

    def runs_with_claim(self, claim_id: str) -> list[str]:
        rows = self.db.query("SELECT run_id FROM claims WHERE claim_id = ? ORDER BY run_id", (claim_id,))
        return [r["run_id"] for r in rows]

    def counts(self, run_id: str) -> RunCounts:
        return counted_by_status(
            self.db.query("SELECT status, COUNT(*) AS n FROM claims WHERE run_id = ? GROUP BY status", (run_id,))
        )

    # -- results files written elsewhere ----------------------------------------------------------
    def add_output(self, run_id: str, path: Path) -> None:
        """Remember a results file the run wrote outside its own folder (`run -o`): decisions made
        later rewrite it too."""
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO run_outputs (run_id, path) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (run_id, str(path.resolve())),
            )

    def outputs(self, run_id: str) -> list[Path]:
        rows = self.db.query("SELECT path FROM run_outputs WHERE run_id = ? ORDER BY path", (run_id,))
        return [Path(r["path"]) for r in rows]

    def last_update(self, run_id: str) -> str | None:
        """When a claim of the run last changed (a debate finished, a person decided or undid)."""
        row = self.db.query_one("SELECT MAX(updated_at) AS at FROM claims WHERE run_id = ?", (run_id,))
        return row["at"] if row is not None else None
