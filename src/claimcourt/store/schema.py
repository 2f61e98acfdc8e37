"""The run-state schema, versioned: `schema_version` holds the version a database is at, and each
migration below moves it one step. The first open of a database creates it; a database made by an
older release (no `schema_version`, the version-1 tables) is brought up to date on its first open; a
database newer than this code is refused, since this release would misread it.

1. runs, claims, reviews: the tables of the first release (`IF NOT EXISTS`, so a workspace made by it
   is already at version 1).
2. thread ids escape ':' and '%' (see `state.thread_id`): the SQLite checkpoints of claims whose ids
   hold those characters move to their new thread ids; two claims that shared one old thread are
   refused, naming them.
3. leases: which worker holds a claim (claims.lease_owner/lease_expires, claims.text so any worker can
   debate it), which reviewer holds a claim on screen (review_leases), which workers are alive.
4. the results files a run wrote outside its folder (`run -o`, rewritten after later decisions) and
   where each reviewer stopped (the next session opens that claim).
5. the settings runs recorded keep no secret (a storage URL's password): older runs' are stripped.
"""

from __future__ import annotations

from collections.abc import Callable

from claimcourt.errors import StorageError
from claimcourt.store.db import Database

SCHEMA_VERSION = 5

_V1 = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    input_file TEXT,
    profile TEXT,
    threshold DOUBLE PRECISION,
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
CREATE TABLE IF NOT EXISTS reviews (
    review_id {serial},
    run_id TEXT NOT NULL,
    claim_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    label INTEGER NOT NULL CHECK (label IN (0, 1)),
    note TEXT,
    verdict_shown INTEGER NOT NULL,
    shown_json TEXT NOT NULL,
    judge_label INTEGER,
    judge_confidence DOUBLE PRECISION,
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

_V3 = """
ALTER TABLE claims ADD COLUMN text TEXT;
ALTER TABLE claims ADD COLUMN lease_owner TEXT;
ALTER TABLE claims ADD COLUMN lease_expires DOUBLE PRECISION;
ALTER TABLE claims ADD COLUMN finished_by TEXT;
ALTER TABLE runs ADD COLUMN claims_registered INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS claims_to_lease ON claims (run_id, status, seq);
CREATE TABLE IF NOT EXISTS review_leases (
    run_id TEXT NOT NULL,
    claim_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    expires DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (run_id, claim_id)
);
CREATE TABLE IF NOT EXISTS workers (
    run_id TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    heartbeat DOUBLE PRECISION NOT NULL,
    stopped INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, worker_id)
);
"""

_V4 = """
CREATE TABLE IF NOT EXISTS run_outputs (
    run_id TEXT NOT NULL,
    path TEXT NOT NULL,
    PRIMARY KEY (run_id, path)
);
CREATE TABLE IF NOT EXISTS reviewer_positions (
    run_id TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    claim_id TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (run_id, reviewer)
);
"""

# Migration 2 needs the checkpoints beside the ledger; the store passes a function that moves them.
MoveThreads = Callable[[list[tuple[str, str]]], None]


def _serial(db: Database) -> str:
    return "BIGSERIAL PRIMARY KEY" if db.dialect == "postgres" else "INTEGER PRIMARY KEY AUTOINCREMENT"


def current_version(db: Database) -> int:
    if db.dialect == "postgres":
        exists = db.query_one("SELECT to_regclass('schema_version') IS NOT NULL AS present")
        present = bool(exists and exists["present"])
    else:
        present = db.query_one("SELECT 1 AS present FROM sqlite_master WHERE name = 'schema_version'") is not None
    if not present:
        return 0
    row = db.query_one("SELECT MAX(version) AS version FROM schema_version")
    return int(row["version"] or 0) if row else 0


def _migrate_thread_ids(db: Database, move_threads: MoveThreads) -> None:
    from claimcourt.state import legacy_thread_id, thread_id

    rows = db.query("SELECT run_id, claim_id FROM claims")
    owners: dict[str, tuple[str, str]] = {}
    for row in rows:
        old = legacy_thread_id(row["run_id"], row["claim_id"])
        if old in owners:
            first = owners[old]
            raise StorageError(
                f"{db.where}: run {first[0]!r} claim {first[1]!r} and run {row['run_id']!r} claim "
                f"{row['claim_id']!r} share one thread ({old!r}) in this workspace made by an older release; "
                "their debates cannot be told apart: delete one of the runs' workspaces or start afresh"
            )
        owners[old] = (row["run_id"], row["claim_id"])
    moves = [
        (old, thread_id(run_id, claim_id))
        for old, (run_id, claim_id) in owners.items()
        if thread_id(run_id, claim_id) != old
    ]
    if moves:
        move_threads(moves)


def _strip_recorded_secrets(db: Database) -> None:
    """Runs recorded before the settings were stored without secrets kept the storage URL whole, password
    included: stored again without it (`urls.without_secrets`, as every run is recorded now)."""
    import json

    from claimcourt.urls import without_secrets

    for row in db.query("SELECT run_id, settings_json FROM runs WHERE settings_json IS NOT NULL"):
        try:
            recorded = json.loads(row["settings_json"])
        except ValueError:
            continue
        stripped = without_secrets(recorded)
        if stripped != recorded:
            db.execute("UPDATE runs SET settings_json = ? WHERE run_id = ?", (json.dumps(stripped), row["run_id"]))


def migrate(db: Database, move_threads: MoveThreads) -> int:
    """Bring the database to SCHEMA_VERSION, in one transaction; returns the version it was at."""
    if current_version(db) == SCHEMA_VERSION:
        return SCHEMA_VERSION
    with db.transaction():
        if db.dialect == "postgres":
            # Two workers starting at once: one migrates, the other waits and then finds it done.
            db.execute("SELECT pg_advisory_xact_lock(4242001)")
        db.script("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
        found = current_version(db)
        if found > SCHEMA_VERSION:
            raise StorageError(
                f"{db.where}: the run state has schema version {found}, newer than this release "
                f"understands ({SCHEMA_VERSION}): upgrade claimcourt"
            )
        if found < 1:
            db.script(_V1.format(serial=_serial(db)))
            _mark(db, 1)
        if found < 2:
            _migrate_thread_ids(db, move_threads)
            _mark(db, 2)
        if found < 3:
            db.script(_V3)
            _mark(db, 3)
        if found < 4:
            db.script(_V4)
            _mark(db, 4)
        if found < 5:
            _strip_recorded_secrets(db)
            _mark(db, 5)
    return found


def _mark(db: Database, version: int) -> None:
    from claimcourt.state import utc_now

    db.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, utc_now()))
