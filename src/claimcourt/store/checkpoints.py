"""LangGraph's own checkpointers, on the same storage as the ledger: the workspace's
`checkpoints.sqlite` (the embedded default) or, with a Postgres storage_url, `AsyncPostgresSaver` on
that database, so checkpoints, ledger and reviews live in one place."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from claimcourt.config import Settings
from claimcourt.errors import DatabaseGoneError, LeaseLostError, StorageError
from claimcourt.extras import missing
from claimcourt.state import SERDE_ALLOWLIST
from claimcourt.store.db import connection_lost, sqlite_pragmas
from claimcourt.store.location import storage_url
from claimcourt.store.sqlite_files import check_sqlite_file, damaged
from claimcourt.urls import hidden_in, shown_url
from claimcourt.workspace import WorkspacePaths

# How long a worker waits for another one that is creating LangGraph's checkpoint tables.
_SETUP_WAIT_S = 300.0
# Connections a worker's checkpoints use at once (one did before the pool; a few let a slow write not
# hold up the others).
_POOL_SIZE = 4


def serializer() -> Any:
    """LangGraph's serializer, told which of our classes it may rebuild from a checkpoint."""
    from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

    return JsonPlusSerializer(allowed_msgpack_modules=SERDE_ALLOWLIST)


def checkpoints_path(settings: Settings) -> Path:
    return WorkspacePaths(settings.workspace).checkpoints


# Whether this worker may still write a thread (given its id): see `open_checkpointer`.
Fence = Callable[[str], bool]


@asynccontextmanager
async def open_checkpointer(settings: Settings, *, fence: Fence | None = None) -> AsyncIterator[Any]:
    """The LangGraph checkpointer for this storage.

    With `fence`, every checkpoint and pending write first asks `fence(thread_id)` and, refused, raises
    LeaseLostError instead of writing: a worker that stalled past its lease and lost the claim to
    another worker stops there, rather than writing its debate into the thread the other one now
    writes. (Asked just before each write, not inside its transaction: a takeover landing between the
    two is not caught. Leases run out only after `worker_lease_s` without a heartbeat, so that window
    is a write's length against a stall of many seconds.)"""
    url = storage_url(settings)
    if url is not None:
        async with _postgres_saver(url, fence, settings.worker_lease_s) as saver:
            yield saver
        return

    import aiosqlite
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    path = checkpoints_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    check_sqlite_file(path)
    conn = await aiosqlite.connect(str(path), timeout=settings.sqlite_busy_timeout_ms / 1000, isolation_level=None)
    try:
        try:
            for pragma in sqlite_pragmas(settings.sqlite_busy_timeout_ms):
                await conn.execute(pragma)
            saver = _fenced(AsyncSqliteSaver, fence)(conn, serde=serializer())
            await saver.setup()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            raise damaged(path, f"cannot be read ({exc})") from exc
        yield saver
    finally:
        await conn.close()


def _fenced(saver_class: Any, fence: Fence | None) -> Any:
    """`saver_class`, or with a fence a subclass whose writes ask it first (see `open_checkpointer`)."""
    if fence is None:
        return saver_class

    def check(config: Any) -> None:
        thread = str(config["configurable"]["thread_id"])
        if not fence(thread):
            raise LeaseLostError(
                f"thread {thread!r}: another worker took the claim over; this worker's write was dropped"
            )

    class FencedSaver(saver_class):
        async def aput(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
            check(config)
            return await super().aput(config, checkpoint, metadata, new_versions)

        async def aput_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
            check(config)
            await super().aput_writes(config, writes, task_id, task_path)

    return FencedSaver


@asynccontextmanager
async def _postgres_saver(url: str, fence: Fence | None, outage_s: float) -> AsyncIterator[Any]:
    """LangGraph's saver on a small connection pool rather than one connection: a connection the server
    dropped (restarted, failed over) is checked and replaced before it is handed out again, and during
    an outage a checkpoint waits up to `outage_s` for the server to come back."""
    try:
        from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
        from psycopg import Error as PsycopgError
        from psycopg.rows import dict_row
        from psycopg_pool import AsyncConnectionPool
    except ImportError as exc:
        raise missing("postgres", "a Postgres storage_url", exc.name) from exc
    _outage_reported_once(asyncio.get_running_loop())
    pool: Any = AsyncConnectionPool(
        url,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row, "connect_timeout": 10},
        min_size=1,
        max_size=_POOL_SIZE,
        open=False,
        check=AsyncConnectionPool.check_connection,
        timeout=max(outage_s, 1.0),
        reconnect_timeout=max(outage_s, 1.0),
    )
    try:
        await pool.open(wait=True, timeout=10)
    except PsycopgError as exc:
        await pool.close()
        raise StorageError(
            f"storage_url {shown_url(url)}: cannot open the checkpoints ({hidden_in(str(exc), url)})"
        ) from exc
    try:
        saver = _fenced(AsyncPostgresSaver, fence)(pool, serde=serializer())
        async with pool.connection() as conn:
            await _take_setup_lock(conn, url)
            try:
                await saver.setup()
            except PsycopgError as exc:
                raise StorageError(
                    f"storage_url {shown_url(url)}: cannot create the checkpoint tables ({hidden_in(str(exc), url)})"
                ) from exc
            finally:
                await conn.execute("SELECT pg_advisory_unlock(4242002)")
        yield saver
    finally:
        await pool.close(timeout=5)


def _outage_reported_once(loop: asyncio.AbstractEventLoop) -> None:
    """While the server is away, the driver logs each reconnection it tries, and LangGraph's checkpoint
    writes still queued when the run stops end on the closed pool, which asyncio would report with a
    traceback: the run already says in one line that the database went away, and how to resume."""
    logging.getLogger("psycopg").addHandler(logging.NullHandler())
    logging.getLogger("psycopg").propagate = False

    def report(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if exc is not None and (connection_lost(exc) or isinstance(exc, DatabaseGoneError)):
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(report)


async def _take_setup_lock(conn: Any, url: str) -> None:
    """One worker at a time through LangGraph's migrations (several starting at once would race).

    Polled, never waited for inside a statement: the migrations hold `CREATE INDEX CONCURRENTLY`, which
    waits for every transaction open in the database to end, and a worker blocked in
    `pg_advisory_lock` is such a transaction, waiting in turn for the migrating worker: a deadlock that
    Postgres breaks by failing the waiting worker."""
    deadline = time.monotonic() + _SETUP_WAIT_S
    while True:
        row = await (await conn.execute("SELECT pg_try_advisory_lock(4242002) AS taken")).fetchone()
        if row["taken"]:
            return
        if time.monotonic() >= deadline:
            raise StorageError(
                f"storage_url {shown_url(url)}: another worker has been creating the checkpoint tables for "
                f"{_SETUP_WAIT_S:.0f}s; try again when it has finished"
            )
        await asyncio.sleep(0.05)


def move_sqlite_threads(path: Path, moves: list[tuple[str, str]], *, busy_timeout_ms: int) -> None:
    """Rename threads in a SQLite checkpoints file (schema migration 2), in one transaction."""
    if not path.exists():
        return
    conn = sqlite3.connect(str(path), timeout=busy_timeout_ms / 1000, isolation_level=None)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        conn.execute("BEGIN IMMEDIATE")
        for table in ("checkpoints", "writes"):
            if table in tables:
                conn.executemany(
                    f"UPDATE {table} SET thread_id = ? WHERE thread_id = ?", [(new, old) for old, new in moves]
                )
        conn.execute("COMMIT")
    finally:
        conn.close()
