"""Everything a run remembers besides its checkpoints, behind one API, on SQLite or Postgres.

    with open_store(settings) as store:          # creates the workspace's ledger (or the schema) on first use
        store.ledger.ensure_run(...); store.ledger.claims(run_id)
        with store.transaction():               # one atomic write across ledger, reviews and leases
            store.ledger.record(run_id, state); store.reviews.add(review)

`existing_store(settings)` is the same without creating anything (None when there has never been a
run), for commands that only read. Nobody outside this package opens a database connection;
transactions and the busy-retry live in `db.Database`.

Where: `storage_url` unset (the default) is `runs.sqlite` + `checkpoints.sqlite` in the workspace; a
`postgresql://` storage_url holds the ledger, reviews and leases and, through LangGraph's
AsyncPostgresSaver, the checkpoints, in one database.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TypeVar

from claimcourt.config import Settings
from claimcourt.run_ids import check_run_id, run_folder_name
from claimcourt.store.checkpoints import checkpoints_path, move_sqlite_threads, open_checkpointer
from claimcourt.store.db import Database, connection_lost
from claimcourt.store.leases import ReviewLeases
from claimcourt.store.ledger import Ledger, LedgerClaim
from claimcourt.store.location import storage_url
from claimcourt.store.records import LedgerRun, RunCounts, RunOverview
from claimcourt.store.results import RESULT_COLUMNS, result_row, write_results
from claimcourt.store.reviews import Review, ReviewStore, Source
from claimcourt.store.schema import SCHEMA_VERSION, migrate
from claimcourt.store.threads import ThreadView, claim_state, state_from_values, thread_config, thread_id, view
from claimcourt.store.work import LeasedClaim, WorkLeases, new_worker_id
from claimcourt.vocab import FINISHED, ClaimStatus  # the vocabulary's, re-exported for the store's readers
from claimcourt.workspace import WorkspacePaths

__all__ = [
    "FINISHED",
    "RESULT_COLUMNS",
    "SCHEMA_VERSION",
    "ClaimStatus",
    "LeasedClaim",
    "Ledger",
    "LedgerClaim",
    "LedgerRun",
    "Review",
    "ReviewLeases",
    "ReviewStore",
    "RunCounts",
    "RunOverview",
    "Source",
    "Store",
    "ThreadView",
    "WorkLeases",
    "check_run_id",
    "claim_state",
    "connection_lost",
    "existing_store",
    "new_worker_id",
    "open_checkpointer",
    "open_store",
    "result_row",
    "run_folder_name",
    "state_from_values",
    "storage_url",
    "thread_config",
    "thread_id",
    "view",
    "write_results",
]


T = TypeVar("T")


def ledger_path(settings: Settings) -> Path:
    return WorkspacePaths(settings.workspace).ledger


class Store:
    """One storage's ledger, reviews and leases over one connection. Close it (or use `with`)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.ledger = Ledger(db)
        self.reviews = ReviewStore(db)
        self.review_leases = ReviewLeases(db)
        self.work = WorkLeases(db)

    @property
    def dialect(self) -> str:
        return self.db.dialect

    @property
    def shared(self) -> bool:
        """Whether several processes may write one run at once (Postgres), not one (SQLite)."""
        return self.db.dialect == "postgres"

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.db.transaction():
            yield

    def retrying(self, transaction: Callable[[], T]) -> T:
        """Run `transaction` (which opens its own) again if the database's connection went half-way."""
        return self.db.retrying(transaction)

    def run_dir(self, run_id: str) -> Path:
        """The folder of a run's default results: one per run id, never shared, never outside runs/."""
        return WorkspacePaths(self.settings.workspace).run_dir(run_id)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _connect(settings: Settings) -> Database:
    url = storage_url(settings)
    if url is not None:
        # A server that comes back within a worker's lease finds the worker still at its claims.
        return Database.postgres(url, busy_timeout_ms=settings.sqlite_busy_timeout_ms, outage_s=settings.worker_lease_s)
    return Database.sqlite(ledger_path(settings), busy_timeout_ms=settings.sqlite_busy_timeout_ms)


def open_store(settings: Settings) -> Store:
    """The run state of these settings, created (or migrated) on first use."""
    db = _connect(settings)
    try:
        move = partial(move_sqlite_threads, checkpoints_path(settings), busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        migrate(db, move)
    except BaseException:
        db.close()
        raise
    return Store(db, settings)


def existing_store(settings: Settings) -> Store | None:
    """The run state, or None when the workspace never had a run (SQLite): reading never creates one."""
    if storage_url(settings) is None and not ledger_path(settings).exists():
        return None
    return open_store(settings)
