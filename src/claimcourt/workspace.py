"""Where a workspace keeps things, and the two stores of run state in it.

- `checkpoints.sqlite`: LangGraph's SQLite checkpointer, one thread per claim. The source of truth:
  it is what makes a batch resumable and a review session possible.
- `runs.sqlite`: the run ledger, an index over those threads (which claims belong to a run, in input
  order, and where each stands) so that listing a run, writing its results or finding what waits for a
  person never has to walk every checkpoint. Anything it lacks after a crash is recovered from the
  checkpoints on the next run (`Runner` reconciles queued claims with their threads).

Both use WAL and a busy timeout, so a review session can work while a batch writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claimcourt.config import Settings
from claimcourt.errors import ConfigError, RunStateError
from claimcourt.state import SERDE_ALLOWLIST, ClaimState, utc_now

STATUSES = ("queued", "judge", "pending_review", "human", "error")


@dataclass(frozen=True)
class WorkspacePaths:
    root: Path

    @property
    def chroma(self) -> Path:
        return self.root / "chroma"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints.sqlite"

    @property
    def ledger(self) -> Path:
        return self.root / "runs.sqlite"

    def offline_judge(self, collection: str) -> Path:
        return self.root / f"{collection}.offline-judge.json"

    def run_dir(self, run_id: str) -> Path:
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run_id)
        return self.root / "runs" / safe


def serializer() -> Any:
    """LangGraph's serializer, told which of our classes it may rebuild from a checkpoint."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    return JsonPlusSerializer(allowed_msgpack_modules=SERDE_ALLOWLIST)


def _damaged(path: Path, why: str) -> RunStateError:
    return RunStateError(
        f"{path}: {why}. The run state is in this file: restore it from a backup, or move it aside to start "
        "afresh (the runs it held are then forgotten)"
    )


def check_sqlite_file(path: Path) -> None:
    """Refuse a workspace database that is not SQLite or was cut short, before anything reads it (an
    error deep inside a query would not say which file is damaged). Cheap: the header only."""
    if not path.exists() or path.stat().st_size == 0:
        return
    size = path.stat().st_size
    with path.open("rb") as fh:
        header = fh.read(100)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        raise _damaged(path, "is not a SQLite database (damaged or overwritten)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    wal = path.with_name(path.name + "-wal")
    # The header's page count is trustworthy when nothing waits in the write-ahead log.
    if (not wal.exists() or wal.stat().st_size == 0) and pages and size < pages * page_size:
        raise _damaged(path, f"is cut short ({size} of {pages * page_size} bytes)")


def _sqlite_pragmas(busy_timeout_ms: int) -> list[str]:
    return [
        "PRAGMA journal_mode=WAL",
        f"PRAGMA busy_timeout={int(busy_timeout_ms)}",
        # WAL + NORMAL survives a process crash (SIGKILL) intact; only an OS crash can lose the
        # last transactions, which the checkpoints make good on the next run.
        "PRAGMA synchronous=NORMAL",
    ]


@asynccontextmanager
async def open_checkpointer(settings: Settings) -> AsyncIterator[Any]:
    """The LangGraph checkpointer for this workspace: SQLite (default) or Postgres."""
    if settings.checkpointer == "postgres":
        if not settings.postgres_url:
            raise ConfigError("checkpointer = 'postgres' needs postgres_url (or CLAIMCOURT_POSTGRES_URL)")
        try:
            from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        except ImportError as exc:
            raise ConfigError("the Postgres checkpointer needs: pip install 'claimcourt[postgres]'") from exc
        async with AsyncPostgresSaver.from_conn_string(settings.postgres_url, serde=serializer()) as saver:
            await saver.setup()
            yield saver
        return

    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    paths = WorkspacePaths(settings.workspace)
    paths.root.mkdir(parents=True, exist_ok=True)
    check_sqlite_file(paths.checkpoints)
    conn = await aiosqlite.connect(
        str(paths.checkpoints), timeout=settings.sqlite_busy_timeout_ms / 1000, isolation_level=None
    )
    try:
        try:
            for pragma in _sqlite_pragmas(settings.sqlite_busy_timeout_ms):
                await conn.execute(pragma)
            sqlite_saver = AsyncSqliteSaver(conn, serde=serializer())
            await sqlite_saver.setup()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            raise _damaged(paths.checkpoints, f"cannot be read ({exc})") from exc
        yield sqlite_saver
    finally:
        await conn.close()


def existing_ledger(settings: Settings) -> Ledger | None:
    """The workspace's run ledger, or None when there has never been a run. Commands that only read
    (pending, trace, export...) use this, so that reading never creates a workspace."""
    path = WorkspacePaths(settings.workspace).ledger
    if not path.exists():
        return None
    return Ledger(path, busy_timeout_ms=settings.sqlite_busy_timeout_ms)


@dataclass(frozen=True)
class LedgerClaim:
    run_id: str
    claim_id: str
    seq: int
    status: str
    record: dict[str, Any] | None
    error: str | None
    updated_at: str

    def state(self) -> ClaimState | None:
        return ClaimState.model_validate(self.record) if self.record else None


def _ledger_claim(row: sqlite3.Row) -> LedgerClaim:
    return LedgerClaim(
        run_id=row["run_id"],
        claim_id=row["claim_id"],
        seq=row["seq"],
        status=row["status"],
        record=json.loads(row["record_json"]) if row["record_json"] else None,
        error=row["error"],
        updated_at=row["updated_at"],
    )


class Ledger:
    """The run ledger (see module doc). Synchronous sqlite3: its writes are small and batched."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 30_000) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        check_sqlite_file(path)
        self.path = path
        self.conn = sqlite3.connect(str(path), timeout=busy_timeout_ms / 1000, check_same_thread=False)
        self.conn.row_factory = sqlite3.Row
        try:
            self._setup(busy_timeout_ms)
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            raise _damaged(path, f"cannot be read ({exc})") from exc

    def _setup(self, busy_timeout_ms: int) -> None:
        for pragma in _sqlite_pragmas(busy_timeout_ms):
            self.conn.execute(pragma)
        with self.conn:
            self.conn.executescript(
                """
                CREATE TABLE IF NOT EXISTS runs (
                    run_id TEXT PRIMARY KEY,
                    created_at TEXT NOT NULL,
                    input_file TEXT,
                    profile TEXT,
                    threshold REAL,
                    embedding_model TEXT,
                    settings_json TEXT
                );
                CREATE TABLE IF NOT EXISTS claims (
                    run_id TEXT NOT NULL,
                    claim_id TEXT NOT NULL,
                    seq INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    record_json TEXT,
                    error TEXT,
                    updated_at TEXT NOT NULL,
                    PRIMARY KEY (run_id, claim_id)
                );
                CREATE INDEX IF NOT EXISTS claims_by_status ON claims (status, run_id);
                CREATE INDEX IF NOT EXISTS claims_by_seq ON claims (run_id, seq);
                CREATE INDEX IF NOT EXISTS claims_by_id ON claims (claim_id);
                """
            )

    def close(self) -> None:
        self.conn.close()

    # -- runs -------------------------------------------------------------------------------------
    def ensure_run(self, run_id: str, *, input_file: str, settings: Settings) -> bool:
        """Record a run; returns True when it is new. A run keeps the threshold it started with."""
        with self.conn:
            cur = self.conn.execute(
                "INSERT OR IGNORE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    utc_now(),
                    input_file,
                    settings.profile,
                    settings.threshold,
                    settings.embedding_model,
                    settings.model_dump_json(),
                ),
            )
        return cur.rowcount == 1

    def run(self, run_id: str) -> dict[str, Any]:
        found = self.conn.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if found is None:
            known = ", ".join(r["run_id"] for r in self.conn.execute("SELECT run_id FROM runs"))
            raise RunStateError(f"unknown run id '{run_id}' (known runs: {known or 'none'})")
        return dict(found)

    def runs(self) -> list[dict[str, Any]]:
        rows = self.conn.execute(
            """
            SELECT r.*, COUNT(c.claim_id) AS claims,
                   SUM(c.status = 'judge') AS judge,
                   SUM(c.status = 'pending_review') AS pending_review,
                   SUM(c.status = 'human') AS human,
                   SUM(c.status = 'queued') AS queued,
                   SUM(c.status = 'error') AS error
            FROM runs r LEFT JOIN claims c ON c.run_id = r.run_id
            GROUP BY r.run_id ORDER BY r.created_at
            """
        )
        return [dict(r) for r in rows]

    # -- claims -----------------------------------------------------------------------------------
    def add_claims(self, run_id: str, claims: Sequence[tuple[str, int]]) -> set[str]:
        """Queue (claim_id, seq) pairs; returns the ids that were already in the run."""
        ids = [claim_id for claim_id, _ in claims]
        known = self.statuses(run_id, ids)
        now = utc_now()
        with self.conn:
            self.conn.executemany(
                "INSERT OR IGNORE INTO claims (run_id, claim_id, seq, status, updated_at) "
                "VALUES (?, ?, ?, 'queued', ?)",
                [(run_id, claim_id, seq, now) for claim_id, seq in claims],
            )
        return set(known)

    def statuses(self, run_id: str, claim_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(claim_ids), 500):
            part = list(claim_ids[start : start + 500])
            marks = ",".join("?" * len(part))
            for r in self.conn.execute(
                f"SELECT claim_id, status FROM claims WHERE run_id = ? AND claim_id IN ({marks})",
                (run_id, *part),
            ):
                found[r["claim_id"]] = r["status"]
        return found

    def record(self, run_id: str, state: ClaimState, *, commit: bool = True) -> None:
        status = state.decided_by or "queued"
        self.conn.execute(
            "UPDATE claims SET status = ?, record_json = ?, error = NULL, updated_at = ? "
            "WHERE run_id = ? AND claim_id = ?",
            (status, state.model_dump_json(), utc_now(), run_id, state.claim_id),
        )
        if commit:
            self.conn.commit()

    def record_error(self, run_id: str, claim_id: str, error: str, *, commit: bool = True) -> None:
        self.conn.execute(
            "UPDATE claims SET status = 'error', error = ?, updated_at = ? WHERE run_id = ? AND claim_id = ?",
            (error, utc_now(), run_id, claim_id),
        )
        if commit:
            self.conn.commit()

    def commit(self) -> None:
        self.conn.commit()

    def claims(self, run_id: str, *, status: str | None = None) -> Iterator[LedgerClaim]:
        query = "SELECT * FROM claims WHERE run_id = ?"
        params: list[Any] = [run_id]
        if status is not None:
            query += " AND status = ?"
            params.append(status)
        for r in self.conn.execute(query + " ORDER BY seq", params):
            yield _ledger_claim(r)

    def claim(self, run_id: str, claim_id: str) -> LedgerClaim | None:
        """One claim of a run by its key (`claims` would walk the whole run)."""
        row = self.conn.execute("SELECT * FROM claims WHERE run_id = ? AND claim_id = ?", (run_id, claim_id)).fetchone()
        return _ledger_claim(row) if row else None

    def runs_with_claim(self, claim_id: str) -> list[str]:
        rows = self.conn.execute("SELECT run_id FROM claims WHERE claim_id = ? ORDER BY run_id", (claim_id,))
        return [r["run_id"] for r in rows]

    def counts(self, run_id: str) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for r in self.conn.execute(
            "SELECT status, COUNT(*) AS n FROM claims WHERE run_id = ? GROUP BY status", (run_id,)
        ):
            counts[r["status"]] = r["n"]
        return counts
