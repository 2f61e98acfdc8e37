"""Work leases: several workers sharing one run (Postgres).

Every worker of a run registers in `workers` and beats a heartbeat. On Postgres a worker leases a
chunk of queued claims at a time (`FOR UPDATE SKIP LOCKED`, so two workers never pick the same rows
and none waits for another) until `lease_expires`; its heartbeat renews the leases of the claims it
still holds. A worker killed stops renewing: its claims' leases expire and another worker takes them
over (their threads are then reconciled, as a rerun does). Recording a claim's result ends its lease.
SQLite keeps one worker per run: a second live one is refused.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from dataclasses import dataclass

from claimcourt.errors import RunStateError
from claimcourt.state import utc_now
from claimcourt.store.db import Database
from claimcourt.vocab import ClaimStatus

_TAKE = """
WITH picked AS (
    SELECT run_id, claim_id FROM claims
    WHERE run_id = ? AND status = ? AND (lease_owner IS NULL OR lease_expires < ?)
    ORDER BY seq LIMIT ? FOR UPDATE SKIP LOCKED
)
UPDATE claims SET lease_owner = ?, lease_expires = ?
FROM picked WHERE claims.run_id = picked.run_id AND claims.claim_id = picked.claim_id
RETURNING claims.claim_id, claims.seq, claims.text
"""


@dataclass(frozen=True)
class LiveWorker:
    """A worker of a run that beat its heartbeat within the lease length."""

    worker_id: str
    host: str
    pid: int


@dataclass(frozen=True)
class LeasedClaim:
    claim_id: str
    seq: int
    text: str


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkLeases:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- workers ----------------------------------------------------------------------------------
    def join(self, run_id: str, worker_id: str, *, lease_s: float, exclusive: bool) -> None:
        """Register this worker; with `exclusive` (SQLite) refuse when another one is alive."""
        host, pid = socket.gethostname(), os.getpid()
        with self.db.transaction():
            if exclusive:
                for other in self.alive(run_id, lease_s=lease_s):
                    if other.host != host or _pid_alive(other.pid):
                        raise RunStateError(
                            f"run '{run_id}' is being run by another process (pid {other.pid} on {other.host}): "
                            "the workspace's SQLite storage takes one worker per run; to run several at once, "
                            "use a Postgres storage_url (see the README, 'Scaling out')"
                        )
            self.db.execute(
                "INSERT INTO workers (run_id, worker_id, host, pid, started_at, heartbeat) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, worker_id, host, pid, utc_now(), time.time()),
            )

    def heartbeat(self, run_id: str, worker_id: str, *, lease_s: float) -> None:
        """I am alive: keep my worker row fresh and my claims' leases from expiring."""
        now = time.time()
        with self.db.transaction():
            self.db.execute(
                "UPDATE workers SET heartbeat = ? WHERE run_id = ? AND worker_id = ?", (now, run_id, worker_id)
            )
            self.db.execute(
                "UPDATE claims SET lease_expires = ? WHERE run_id = ? AND lease_owner = ? AND status = ?",
                (now + lease_s, run_id, worker_id, ClaimStatus.QUEUED),
            )

    def leave(self, run_id: str, worker_id: str) -> None:
        with self.db.transaction():
            self.db.execute("UPDATE workers SET stopped = 1 WHERE run_id = ? AND worker_id = ?", (run_id, worker_id))
            self.db.execute(
                "UPDATE claims SET lease_owner = NULL, lease_expires = NULL WHERE run_id = ? AND lease_owner = ?",
                (run_id, worker_id),
            )

    def alive(self, run_id: str, *, lease_s: float) -> list[LiveWorker]:
        """The run's workers that beat within the lease length and did not stop."""
        rows = self.db.query(
            "SELECT * FROM workers WHERE run_id = ? AND stopped = 0 AND heartbeat >= ? ORDER BY started_at",
            (run_id, time.time() - lease_s),
        )
        return [LiveWorker(r["worker_id"], r["host"], int(r["pid"])) for r in rows]

    def alive_counts(self, *, lease_s: float) -> dict[str, int]:
        rows = self.db.query(
            "SELECT run_id, COUNT(*) AS n FROM workers WHERE stopped = 0 AND heartbeat >= ? GROUP BY run_id",
            (time.time() - lease_s,),
        )
        return {r["run_id"]: int(r["n"]) for r in rows}

    # -- claims -----------------------------------------------------------------------------------
    def take(self, run_id: str, worker_id: str, *, count: int, lease_s: float) -> list[LeasedClaim]:
        """Lease up to `count` queued claims no live worker holds, in input order."""
        if self.db.dialect != "postgres":
            raise RuntimeError("work leases need Postgres")
        now = time.time()
        with self.db.transaction():
            rows = self.db.query(_TAKE, (run_id, ClaimStatus.QUEUED, now, count, worker_id, now + lease_s))
        rows.sort(key=lambda r: r["seq"])
        return [LeasedClaim(r["claim_id"], int(r["seq"]), r["text"] or "") for r in rows]

    def held(self, run_id: str, worker_id: str) -> list[LeasedClaim]:
        """The queued claims leased to this worker, in input order. A `take` whose reply was lost with
        the connection (the server committed, then went away) leases claims the worker never saw;
        its heartbeat would renew them for ever, so the worker asks for them back."""
        rows = self.db.query(
            "SELECT claim_id, seq, text FROM claims WHERE run_id = ? AND lease_owner = ? AND status = ? ORDER BY seq",
            (run_id, worker_id, ClaimStatus.QUEUED),
        )
        return [LeasedClaim(r["claim_id"], int(r["seq"]), r["text"] or "") for r in rows]

    def holds(self, run_id: str, claim_id: str, worker_id: str) -> bool:
        """Whether the claim is still leased to this worker (no other took it over, none recorded it)."""
        row = self.db.query_one("SELECT lease_owner FROM claims WHERE run_id = ? AND claim_id = ?", (run_id, claim_id))
        return row is not None and row["lease_owner"] == worker_id

    def unfinished(self, run_id: str) -> int:
        row = self.db.query_one(
            "SELECT COUNT(*) AS n FROM claims WHERE run_id = ? AND status = ?", (run_id, ClaimStatus.QUEUED)
        )
        return int(row["n"]) if row else 0

    def registered(self, run_id: str) -> bool:
        row = self.db.query_one("SELECT claims_registered FROM runs WHERE run_id = ?", (run_id,))
        return bool(row and row["claims_registered"])

    def mark_registered(self, run_id: str) -> None:
        with self.db.transaction():
            self.db.execute("UPDATE runs SET claims_registered = 1 WHERE run_id = ?", (run_id,))
