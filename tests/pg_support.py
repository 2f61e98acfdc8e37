"""A throwaway PostgreSQL server for the tests: initdb in a temp dir, `postgres` on a free 127.0.0.1
port, torn down at the end of the session. Skipped when PostgreSQL is not installed or cannot start,
except with CLAIMCOURT_REQUIRE_SERVICES=1 (CI), where that fails. `.ci/services/postgres.sh` installs
Debian's postgresql when missing."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _unavailable(why: str) -> None:
    if os.environ.get("CLAIMCOURT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"PostgreSQL is required (CLAIMCOURT_REQUIRE_SERVICES=1) but {why}")
    pytest.skip(f"PostgreSQL not available: {why}")


def _bindir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_user() -> list[str]:
    """initdb and postgres refuse to run as root: run them as 'nobody' then."""
    return ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed here, or would not start."""


@contextmanager
def running_postgres() -> Iterator[str]:
    """Start a throwaway server (initdb in a temp dir, free 127.0.0.1 port); its base URL (no database)."""
    bindir = _bindir()
    if bindir is None:
        raise PostgresUnavailable("initdb was not found (install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="claimcourt-pg-"))
    root.chmod(0o777)
    data = root / "data"
    init = subprocess.run(
        [
            *_as_user(),
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        capture_output=True,
        text=True,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise PostgresUnavailable(f"initdb failed: {init.stderr.strip()[-300:]}")
    port = _free_port()
    settings = ["fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=200"]
    server = subprocess.Popen(
        [*_as_user(), str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port), "-k", str(root)]
        + [arg for setting in settings for arg in ("-c", setting)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"postgresql://postgres@127.0.0.1:{port}"
    try:
        _wait_ready(base, server)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The base URL (no database) of a PostgreSQL server for this test session."""
    try:
        with running_postgres() as base:
            yield base
    except PostgresUnavailable as exc:
        _unavailable(str(exc))


def _wait_ready(base: str, server: subprocess.Popen[str]) -> None:
    import psycopg

    deadline = time.monotonic() + 180  # a readiness bound, only reached when the server never comes up
    while True:
        try:
            psycopg.connect(f"{base}/postgres", connect_timeout=2).close()
            return
        except psycopg.OperationalError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise PostgresUnavailable(
                    f"the server did not start: {(server.stderr.read() if server.stderr else '')[-300:]}"
                ) from None
            time.sleep(0.2)


def fresh_database(base: str) -> str:
    """A new empty database on the server; its URL."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return f"{base}/{name}"


@pytest.fixture
def postgres_url(postgres_server: str) -> str:
    """An empty database of its own for one test."""
    return fresh_database(postgres_server)
