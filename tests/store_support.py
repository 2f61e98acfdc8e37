"""Making a workspace look as the first release left it (schema version 1, thread ids unescaped), to
test upgrades. The first release's tables are exactly `store.schema`'s version 1 (see
`git show 6eb1ad9:src/claimcourt/workspace.py`); later versions only add."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from claimcourt.state import legacy_thread_id, thread_id


def downgrade_to_first_release(ws: Path) -> None:
    with sqlite3.connect(ws / "runs.sqlite") as conn:
        pairs = conn.execute("SELECT run_id, claim_id FROM claims").fetchall()
        conn.execute("DROP TABLE schema_version")
        conn.execute("DROP TABLE review_leases")
        conn.execute("DROP TABLE workers")
        conn.execute("DROP INDEX claims_to_lease")
        for column in ("text", "lease_owner", "lease_expires", "finished_by"):
            conn.execute(f"ALTER TABLE claims DROP COLUMN {column}")
        conn.execute("ALTER TABLE runs DROP COLUMN claims_registered")
    with sqlite3.connect(ws / "checkpoints.sqlite") as conn:
        for run_id, claim_id in pairs:
            for table in ("checkpoints", "writes"):
                conn.execute(
                    f"UPDATE {table} SET thread_id = ? WHERE thread_id = ?",
                    (legacy_thread_id(run_id, claim_id), thread_id(run_id, claim_id)),
                )


def add_legacy_claim(ws: Path, run_id: str, claim_id: str) -> None:
    """A claim row as the first release wrote it (any run id was accepted then)."""
    with sqlite3.connect(ws / "runs.sqlite") as conn:
        conn.execute(
            "INSERT OR IGNORE INTO runs (run_id, created_at, profile, threshold) "
            "VALUES (?, '2026-01-01', 'offline', 0.7)",
            (run_id,),
        )
        conn.execute(
            "INSERT INTO claims (run_id, claim_id, seq, status, updated_at) VALUES (?, ?, 1, 'queued', '2026-01-01')",
            (run_id, claim_id),
        )
