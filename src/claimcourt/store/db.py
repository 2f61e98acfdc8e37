"""One database connection behind one small API, for SQLite (embedded) and Postgres (shared).

Everything above this module writes SQL once, with `?` placeholders and the subset both engines speak
(`ON CONFLICT DO NOTHING`, `RETURNING`, `CASE`); the Postgres side swaps the placeholders. The
connection runs in autocommit: a write that must be atomic goes through `transaction()`, which takes
the write lock first (SQLite `BEGIN IMMEDIATE`, retried while another process holds it, for at most
the busy timeout) so a transaction never fails half-way on a lock.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from claimcourt.errors import StorageError, WorkspaceBusyError
from claimcourt.store.sqlite_files import check_sqlite_file, damaged

Dialect = Literal["sqlite", "postgres"]
Row = dict[str, Any]
# Each attempt to take SQLite's write lock waits this long; the attempts go on for the busy timeout in
# all, saying once (on_wait) that they wait.
_LOCK_ATTEMPT_MS = 1_000


def sqlite_pragmas(busy_timeout_ms: int) -> list[str]:
    return [
        "PRAGMA journal_mode=WAL",
        f"PRAGMA busy_timeout={int(busy_timeout_ms)}",
        # WAL + NORMAL survives a process crash (SIGKILL) intact; only an OS crash can lose the
        # last transactions, which the checkpoints make good on the next run.
        "PRAGMA synchronous=NORMAL",
    ]


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {col[0]: value for col, value in zip(cursor.description, row, strict=True)}


class Database:
    """A connection plus the rules for using it. Build with `sqlite(...)` or `postgres(...)`."""

    def __init__(self, conn: Any, dialect: Dialect, *, busy_timeout_ms: int, where: str) -> None:
        self._conn = conn
        self.dialect: Dialect = dialect
        self.busy_timeout_ms = busy_timeout_ms
        # What the database is, for messages: a file path or a URL without its password.
        self.where = where
        self.on_wait: Callable[[str], None] | None = None
        self._depth = 0

    # -- construction -----------------------------------------------------------------------------
    @classmethod
    def sqlite(cls, path: Path, *, busy_timeout_ms: int) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        attempt_ms = min(_LOCK_ATTEMPT_MS, busy_timeout_ms)
        check_sqlite_file(path)
        try:
            conn = sqlite3.connect(str(path), timeout=attempt_ms / 1000, check_same_thread=False, isolation_level=None)
            conn.row_factory = _dict_row
            for pragma in sqlite_pragmas(attempt_ms):
                conn.execute(pragma)
        except sqlite3.DatabaseError as exc:
            raise damaged(path, f"cannot be read ({exc})") from exc
        return cls(conn, "sqlite", busy_timeout_ms=busy_timeout_ms, where=str(path))

    @classmethod
    def postgres(cls, url: str, *, busy_timeout_ms: int) -> Database:
        from claimcourt.urls import hidden_in, shown_url

        try:
            import psycopg
            from psycopg.rows import dict_row
        except ImportError as exc:
            raise StorageError("a Postgres storage_url needs: pip install 'claimcourt[postgres]'") from exc
        try:
            conn = psycopg.connect(url, autocommit=True, row_factory=dict_row, connect_timeout=10)
        except (psycopg.Error, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StorageError(f"storage_url {shown_url(url)}: cannot connect ({hidden_in(first, url)})") from exc
        conn.execute(f"SET lock_timeout = {int(busy_timeout_ms)}")
        return cls(conn, "postgres", busy_timeout_ms=busy_timeout_ms, where=shown_url(url))

    def close(self) -> None:
        self._conn.close()

    # -- statements -------------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgres" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the rows it changed."""
        cur = self._conn.execute(self._sql(sql), tuple(params))
        return int(cur.rowcount or 0)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.dialect == "postgres":
            with self._conn.cursor() as cur:
                cur.executemany(self._sql(sql), [tuple(r) for r in rows])
        else:
            self._conn.executemany(sql, [tuple(r) for r in rows])

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(self._conn.execute(self._sql(sql), tuple(params)).fetchall())

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        found = self._conn.execute(self._sql(sql), tuple(params)).fetchone()
        return dict(found) if found is not None else None

    def script(self, sql: str) -> None:
        """Several statements (schema), no parameters; one at a time, because sqlite3's executescript
        would commit the transaction it runs in."""
        for statement in sql.split(";"):
            if statement.strip():
                self._conn.execute(statement)

    # -- transactions -----------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """An atomic write: everything inside commits together or not at all. Nested uses join the
        outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._begin()
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._conn.execute("ROLLBACK")
            raise
        self._depth = 0
        self._conn.execute("COMMIT")

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def _begin(self) -> None:
        if self.dialect == "postgres":
            self._conn.execute("BEGIN")
            return
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        told = False
        while True:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise WorkspaceBusyError(
                        f"{self.where} is busy: another process (a batch run?) has held it for "
                        f"{self.busy_timeout_ms / 1000:.0f}s. Nothing was changed; try again when it "
                        "finishes, or raise sqlite_busy_timeout_ms"
                    ) from exc
                if not told and self.on_wait is not None:
                    self.on_wait("the workspace is busy (a batch run is writing); waiting for it…")
                    told = True
                time.sleep(0.05)
