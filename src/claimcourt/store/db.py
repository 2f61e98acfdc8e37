"""One database connection behind one small API, for SQLite (embedded) and Postgres (shared).

Everything above this module writes SQL once, with `?` placeholders and the subset both engines speak
(`ON CONFLICT DO NOTHING`, `RETURNING`, `CASE`); the Postgres side swaps the placeholders. The
connection runs in autocommit: a write that must be atomic goes through `transaction()`, which takes
the write lock first (SQLite `BEGIN IMMEDIATE`, retried while another process holds it, for at most
the busy timeout) so a transaction never fails half-way on a lock.

A Postgres server that goes away (restarted, failed over, the network lost) is ridden out: a statement
outside a transaction reconnects, with backoff, and runs again; a transaction whose connection went
half-way raises ConnectionLostError (the server rolled it back) for its caller to run again
(`retrying`). When the server stays away longer than `outage_s` (a worker's lease: by then its claims
may be another's), DatabaseGoneError names it, and every later statement raises it after one quick
attempt to reach the server (so a long-lived process carries on once it is back).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

from claimcourt.errors import ConnectionLostError, DatabaseGoneError, StorageError, WorkspaceBusyError
from claimcourt.extras import missing
from claimcourt.store.sqlite_files import check_sqlite_file, damaged

Dialect = Literal["sqlite", "postgres"]
Row = dict[str, Any]
# Each attempt to take SQLite's write lock waits this long; the attempts go on for the busy timeout in
# all, saying once (on_wait) that they wait.
_LOCK_ATTEMPT_MS = 1_000
# Reconnecting to a Postgres that went away: the first wait, doubled up to the last.
_RECONNECT_FIRST_S = 0.1
_RECONNECT_MAX_S = 2.0
# A transaction lost half-way is run again at most this many times (each after a reconnect).
_REPLAYS = 5
T = TypeVar("T")


def connection_lost(exc: BaseException) -> bool:
    """Whether `exc` is Postgres's connection going (or a pool that found none), not an SQL error: a
    driver OperationalError without an SQL state, or of class 08 (connection) or 57P (shutdown)."""
    try:
        import psycopg
    except ImportError:
        return False
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = getattr(exc, "sqlstate", None)
    return state is None or state.startswith(("08", "57P"))


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

    def __init__(
        self,
        conn: Any,
        dialect: Dialect,
        *,
        busy_timeout_ms: int,
        where: str,
        reconnect: Callable[[], Any] | None = None,
        outage_s: float = 0.0,
    ) -> None:
        self._conn = conn
        self.dialect: Dialect = dialect
        self.busy_timeout_ms = busy_timeout_ms
        # What the database is, for messages: a file path or a URL without its password.
        self.where = where
        self.on_wait: Callable[[str], None] | None = None
        self._depth = 0
        self._reconnect = reconnect
        self.outage_s = outage_s
        # Why, once the server stayed away past outage_s (see `_back_yet`).
        self.gone: str | None = None

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
    def postgres(cls, url: str, *, busy_timeout_ms: int, outage_s: float = 0.0) -> Database:
        from claimcourt.urls import hidden_in, shown_url

        try:
            import psycopg
            from psycopg.rows import dict_row
        except ImportError as exc:
            raise missing("postgres", "a Postgres storage_url", exc.name) from exc

        def connect() -> Any:
            conn = psycopg.connect(url, autocommit=True, row_factory=dict_row, connect_timeout=10)
            conn.execute(f"SET lock_timeout = {int(busy_timeout_ms)}")
            return conn

        try:
            conn = connect()
        except (psycopg.Error, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StorageError(f"storage_url {shown_url(url)}: cannot connect ({hidden_in(first, url)})") from exc
        where = shown_url(url)
        return cls(conn, "postgres", busy_timeout_ms=busy_timeout_ms, where=where, reconnect=connect, outage_s=outage_s)

    def close(self) -> None:
        self._conn.close()

    # -- a server that goes away ------------------------------------------------------------------
    def _call(self, work: Callable[[Any], T]) -> T:
        """`work(connection)`; on Postgres, a connection lost outside a transaction is made again and
        the work run again (a statement that was lost did not commit, or is idempotent where it did:
        every write here sets a state, none adds to one without a key)."""
        while True:
            if self.gone is not None:
                self._back_yet()
            try:
                return work(self._conn)
            except Exception as exc:
                if self.dialect != "postgres" or not connection_lost(exc):
                    raise
                if self._depth:
                    raise ConnectionLostError(
                        f"the connection to the database {self.where} was lost in the middle of a write "
                        f"({_first_line(exc)}); nothing of that write was kept"
                    ) from exc
                self.reconnect(exc)

    def reconnect(self, cause: BaseException) -> None:
        """A new connection, retried with backoff for `outage_s`; DatabaseGoneError after that."""
        if self._reconnect is None:
            raise cause
        deadline = time.monotonic() + self.outage_s
        wait = _RECONNECT_FIRST_S
        told = False
        while True:
            try:
                conn = self._reconnect()
            except Exception as exc:
                if not connection_lost(exc):
                    raise
                if time.monotonic() + wait > deadline:
                    self.gone = (
                        f"the database {self.where} went away ({_first_line(cause)}) and did not come back "
                        f"within {self.outage_s:g}s (worker_lease_s)"
                    )
                    raise DatabaseGoneError(self.gone) from exc
                if not told and self.on_wait is not None:
                    self.on_wait(f"the database {self.where} went away; reconnecting…")
                    told = True
                time.sleep(wait)
                wait = min(wait * 2, _RECONNECT_MAX_S)
                continue
            with suppress(Exception):
                self._conn.close()
            self._conn = conn
            return

    def _back_yet(self) -> None:
        """After the server stayed away: one attempt to reach it (a long-lived process, such as the web
        page, carries on once it is back), else DatabaseGoneError at once."""
        assert self._reconnect is not None and self.gone is not None
        try:
            conn = self._reconnect()
        except Exception as exc:
            if not connection_lost(exc):
                raise
            raise DatabaseGoneError(self.gone) from exc
        with suppress(Exception):
            self._conn.close()
        self._conn, self.gone = conn, None

    def retrying(self, transaction: Callable[[], T]) -> T:
        """`transaction()` (a function that opens its own transaction), run again when its connection
        was lost half-way: the server rolled it back, so running it again is running it once."""
        for _ in range(_REPLAYS):
            try:
                return transaction()
            except ConnectionLostError as exc:
                lost = exc
        raise DatabaseGoneError(f"{lost.message}, {_REPLAYS} times in a row")

    # -- statements -------------------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgres" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; returns the rows it changed."""
        cur = self._call(lambda conn: conn.execute(self._sql(sql), tuple(params)))
        return int(cur.rowcount or 0)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        if self.dialect == "postgres":

            def many(conn: Any) -> None:
                with conn.cursor() as cur:
                    cur.executemany(self._sql(sql), [tuple(r) for r in rows])

            self._call(many)
        else:
            self._conn.executemany(sql, [tuple(r) for r in rows])

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._call(lambda conn: list(conn.execute(self._sql(sql), tuple(params)).fetchall()))

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        found = self._call(lambda conn: conn.execute(self._sql(sql), tuple(params)).fetchone())
        return dict(found) if found is not None else None

    def script(self, sql: str) -> None:
        """Several statements (schema), no parameters; one at a time, because sqlite3's executescript
        would commit the transaction it runs in."""
        for statement in sql.split(";"):
            if statement.strip():
                self._call(partial(_run_statement, statement))

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
            if not self._lost():  # a lost connection's transaction is rolled back by the server
                self._conn.execute("ROLLBACK")
            raise
        try:
            self._call(lambda conn: conn.execute("COMMIT"))
        finally:
            self._depth = 0

    @property
    def in_transaction(self) -> bool:
        return self._depth > 0

    def _lost(self) -> bool:
        return bool(getattr(self._conn, "broken", False) or getattr(self._conn, "closed", False))

    def _begin(self) -> None:
        if self.dialect == "postgres":
            self._call(lambda conn: conn.execute("BEGIN"))  # nothing done yet: safe to run again
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


def _run_statement(statement: str, conn: Any) -> None:
    conn.execute(statement)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
