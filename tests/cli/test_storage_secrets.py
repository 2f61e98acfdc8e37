"""A storage URL's password, in every form it can take, appears in no output, file or table.

Every command that opens the run state (run, runs, pending, export, agreement, trace, review,
calibrate, serve, demo) is given a password by flag (run, runs) and through CLAIMCOURT_STORAGE_URL: in
the userinfo, as `?password=`, as `?sslpassword=`, in PGPASSWORD, in a `passfile`; against a server
that is not there, with a URL that is malformed around the password, and against a real (throwaway)
Postgres, where every table is read back.
"""

from __future__ import annotations

import socket
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.config import Settings
from tests.conftest import write_csv
from tests.pg_support import fresh_database, postgres_server

__all__ = ["postgres_server"]
SECRET = "Wr0ngPa55-k7q"
RUN = "sec"


def _closed_port() -> int:
    """A loopback port where nothing listens (bound, then let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _forms(base: str, db: str, tmp_path: Path) -> list[tuple[str, str, dict[str, str]]]:
    """(name, storage_url, extra environment): the password in each place it can be given."""
    host = base.removeprefix("postgresql://postgres@")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"*:*:*:*:{SECRET}\n")
    passfile.chmod(0o600)
    return [
        ("userinfo", f"postgresql://postgres:{SECRET}@{host}/{db}", {}),
        ("query", f"postgresql://postgres@{host}/{db}?password={SECRET}", {}),
        ("sslpassword", f"postgresql://postgres@{host}/{db}?sslpassword={SECRET}", {}),
        ("PGPASSWORD", f"postgresql://postgres@{host}/{db}", {"PGPASSWORD": SECRET}),
        ("passfile", f"postgresql://postgres@{host}/{db}?passfile={passfile}", {}),
    ]


def _malformed(host: str) -> list[tuple[str, str, dict[str, str]]]:
    return [
        # libpq's keywords are lower case: PassWord is refused (after the URL was shown).
        ("query-mixed-case", f"postgres://postgres@{host}/db?sslmode=disable&PassWord={SECRET}", {}),
        ("bad-port", f"postgresql://postgres:{SECRET}@127.0.0.1:notaport/db", {}),
        ("bad-scheme", f"mysql://root:{SECRET}@{host}/db?password={SECRET}", {}),
        ("keywords", f"host=127.0.0.1 password={SECRET} dbname=db", {}),
        ("no-database", f"postgresql://postgres:{SECRET}@{host}/?password={SECRET}", {}),
        ("bad-percent", f"postgresql://postgres:{SECRET}%zz@{host}/db", {}),
        ("bad-ipv6", f"postgresql://postgres:{SECRET}@[::1/db?password={SECRET}", {}),
    ]


def _commands(batch: Path, sheet: Path, out: Path) -> list[list[str]]:
    return [
        ["run", str(batch), "--run-id", RUN, "-o", str(out)],
        ["runs"],
        ["runs", "-f", "json"],
        ["pending", "--run-id", RUN],
        ["export", "-o", str(out.with_name("gold.csv")), "--run-id", RUN],
        ["agreement", "--run-id", RUN],
        ["trace", "c1", "--run-id", RUN, "-f", "json"],
        ["review", "--from", str(sheet), "--shown", "--reviewer", "ann", "--run-id", RUN],
        ["calibrate", "--run-id", RUN, "--no-save"],
        ["serve", "--port", "0"],
    ]


def _invoke(args: list[str], workspace: Path, url: str, env: dict[str, str], *, flag: bool) -> tuple[int, str]:
    environ = {**env, "CLAIMCOURT_STORAGE_URL": None if flag else url}
    extra = ["--storage-url", url] if flag else []
    result = CliRunner().invoke(app, [*args, "-w", str(workspace), *extra], env=environ)
    text = result.output + (repr(result.exception) if result.exception and result.exit_code != 2 else "")
    return result.exit_code, text


def _files_holding(root: Path, secret: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.fixture
def inputs(tmp_path: Path, silver_rows: list[dict[str, str]]) -> tuple[Path, Path, Path]:
    rows = [{"id": f"c{i}", "text": r["text"]} for i, r in enumerate(silver_rows[100:104], start=1)]
    batch = write_csv(tmp_path / "batch.csv", rows)
    sheet = write_csv(tmp_path / "sheet.csv", [{"id": "c1", "label": 1, "note": "n"}])
    return batch, sheet, tmp_path / "out" / "results.csv"


def test_no_command_shows_the_password_when_the_database_is_not_there(
    indexed_settings: Settings, inputs: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    batch, sheet, out = inputs
    base = f"postgresql://postgres@127.0.0.1:{_closed_port()}"
    forms = _forms(base, "claims", tmp_path) + _malformed(base.removeprefix("postgresql://postgres@"))
    for args in _commands(batch, sheet, out):
        for name, url, env in forms:
            for flag in (False, True) if args[0] in ("run", "runs") else (False,):
                code, text = _invoke(args, indexed_settings.workspace, url, env, flag=flag)
                assert code != 0, (args[0], name, text[-2000:])
                assert "storage_url" in text, (args[0], name, text[-2000:])
                assert SECRET not in text, (args[0], name, flag, text[-2000:])
                assert "Traceback" not in text, (args[0], name, text[-2000:])
    assert _files_holding(tmp_path, SECRET) == [str(tmp_path / "pgpass")]


def test_the_demo_does_not_show_it_either(tmp_path: Path) -> None:
    """`demo` runs on the storage the environment names too (once: it indexes its examples first)."""
    url = f"postgresql://postgres@127.0.0.1:{_closed_port()}/claims?password={SECRET}"
    code, text = _invoke(["demo", "-o", str(tmp_path / "out.csv")], tmp_path / "ws", url, {}, flag=False)
    assert code == 2 and "storage_url" in text and SECRET not in text, text[-2000:]


def test_a_run_on_postgres_keeps_no_password_in_its_tables_files_or_output(
    indexed_settings: Settings, inputs: tuple[Path, Path, Path], postgres_server: str, tmp_path: Path
) -> None:
    batch, sheet, out = inputs
    url = fresh_database(postgres_server)
    db = url.rpartition("/")[2]
    for name, given, env in _forms(postgres_server, db, tmp_path):
        for args in _commands(batch, sheet, out)[:-1]:  # serve would keep serving
            code, text = _invoke(args, indexed_settings.workspace, given, env, flag=args[0] in ("run", "runs"))
            assert SECRET not in text, (args[0], name, text[-2000:])
            assert "Traceback" not in text, (args[0], name, text[-2000:])
            if args[0] in ("run", "runs", "pending", "export", "trace", "agreement"):
                assert code == 0, (args[0], name, text[-2000:])
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        assert "runs" in tables
        for table in tables:
            dump = conn.execute(f"SELECT t::text FROM {table} t").fetchall()  # names from pg_tables
            assert not [row for row in dump if SECRET in row[0]], table
        (recorded,) = conn.execute("SELECT settings_json FROM runs WHERE run_id = %s", (RUN,)).fetchone()  # type: ignore[misc]
    assert '"storage_url": "postgresql://postgres@' in recorded
    assert _files_holding(tmp_path, SECRET) == [str(tmp_path / "pgpass")]
    assert _files_holding(indexed_settings.workspace, SECRET) == []


def test_a_password_recorded_by_an_older_release_is_stripped_on_the_next_open(
    postgres_server: str, tmp_path: Path
) -> None:
    from claimcourt.config import load_settings
    from claimcourt.store import open_store

    url = fresh_database(postgres_server)
    given = f"{url}?password={SECRET}"
    settings = load_settings(overrides={"workspace": tmp_path / "ws", "storage_url": given}, environ={})
    with open_store(settings) as store:
        store.ledger.ensure_run("old", input_file="b.csv", settings=settings)
    # As an older release left it: the whole URL in the run's settings, and schema version 4.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE runs SET settings_json = %s", (settings.model_dump_json(),))
        conn.execute("DELETE FROM schema_version WHERE version = 5")
    with open_store(settings) as store:
        recorded = store.ledger.run("old").settings_json
    assert SECRET not in recorded and f'"storage_url": "{url}"' in recorded
