"""Many workers, one run: `claimcourt run FILE --run-id big` started several times against one
Postgres storage shares the work; a killed worker's claims are taken over; every claim once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from claimcourt.config import Settings
from tests.conftest import read_csv, write_csv
from tests.integration.test_kill_and_resume import start_batch
from tests.pg_support import fresh_database, postgres_server, postgres_url

__all__ = ["postgres_server", "postgres_url"]
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _worker(settings: Settings, batch: Path, url: str, out: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "claimcourt.cli.app", "run", str(batch), "--run-id", "big", "--storage-url", url]
    cmd += ["--workspace", str(settings.workspace), "--max-concurrency", "8", "-o", str(out), *extra]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CLAIMCOURT_WORKER_LEASE_S": "4", "PYTHONPATH": SRC}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# One worker's first use of a storage: the ledger's schema, the run, LangGraph's checkpoint tables.
_FIRST_USE = """
import asyncio, sys, time
from pathlib import Path
from claimcourt.config import Settings
from claimcourt.store import open_checkpointer, open_store
workspace, meeting, workers, urls = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
async def first_use(settings):
    with open_store(settings) as store:
        store.ledger.ensure_run("big", input_file="big.csv", settings=settings)
        async with open_checkpointer(settings):
            pass
def meet(step):  # on from here once every worker got here (a file each), however slow their start
    (meeting / f"{step}-{Path(workspace).name}").touch()
    while len(list(meeting.glob(f"{step}-*"))) < workers:
        time.sleep(0.005)
for i, url in enumerate(urls):  # one fresh database after another, all workers at once on each
    meet(i)
    asyncio.run(first_use(Settings(workspace=workspace, storage_url=url)))
"""


def _query(url: str, sql: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def _held_unfinished(postgres_url: str, pid: int) -> list[str]:
    """The claims the worker with this process id holds leased and not yet finished."""
    rows = _query(
        postgres_url,
        "SELECT claim_id FROM claims WHERE status = 'queued' AND lease_owner LIKE %s",
        f"%:{pid}:%",
    )
    return [str(r[0]) for r in rows]


def test_three_workers_one_killed_every_claim_exactly_once(
    indexed_settings: Settings, silver_rows: list[dict[str, str]], postgres_url: str, tmp_path: Path
) -> None:
    rows = [{"id": r["id"], "text": r["text"]} for r in silver_rows[80:380]]
    batch = write_csv(tmp_path / "big.csv", rows)
    workers = [_worker(indexed_settings, batch, postgres_url, tmp_path / f"out-{i}.csv") for i in range(3)]
    victim = workers[0]
    deadline = time.monotonic() + 300
    held: list[str] = []
    while time.monotonic() < deadline:
        if victim.poll() is not None:
            pytest.fail(f"the worker ended before it could be killed: {victim.communicate()[1][-3000:]}")
        try:
            held = _held_unfinished(postgres_url, victim.pid)
            done = _query(postgres_url, "SELECT COUNT(*) FROM claims WHERE status != 'queued'")[0][0]
        except psycopg.Error:
            held, done = [], 0  # the schema is not there yet
        if held and int(done) >= 30:  # type: ignore[call-overload]
            break
        time.sleep(0.2)
    victim.send_signal(signal.SIGKILL)
    victim.communicate()
    # What it held unfinished when it died: between the poll above and the kill it may still have
    # recorded a chunk (a busy CI machine once saw 8 claims finish in that gap), and those are its own.
    held = _held_unfinished(postgres_url, victim.pid)
    assert held, "the victim held no unfinished lease when it was killed"
    for proc in workers[1:]:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    ids = [r["id"] for r in rows]
    for survivor in (1, 2):
        results = read_csv(tmp_path / f"out-{survivor}.csv")
        assert [r["id"] for r in results] == ids  # every claim, exactly once, in input order
        assert all(r["decided_by"] in ("judge", "pending_review") for r in results)
    finished_by = dict(_query(postgres_url, "SELECT claim_id, finished_by FROM claims"))
    taken_over = [c for c in held if str(finished_by[c]).split(":")[1] != str(victim.pid)]
    assert taken_over == held, "the killed worker's claims were not all taken over"
    survivors = {str(finished_by[c]).split(":")[1] for c in held}
    assert survivors <= {str(workers[1].pid), str(workers[2].pid)}

    late = _worker(indexed_settings, batch, postgres_url, tmp_path / "late.csv")
    out, err = late.communicate(timeout=300)
    assert late.returncode == 0, err
    assert "Run big is already complete: all 300 claims were finished" in " ".join(out.split())

    other = _worker(indexed_settings, batch, postgres_url, tmp_path / "x.csv", "--threshold", "0.5")
    out, err = other.communicate(timeout=300)
    assert other.returncode == 2
    assert "run 'big' was started with threshold 0.7, not 0.5" in " ".join(err.split())
    renamed = write_csv(tmp_path / "other.csv", rows)
    other = _worker(indexed_settings, renamed, postgres_url, tmp_path / "x.csv")
    out, err = other.communicate(timeout=300)
    assert other.returncode == 2
    assert "started with input file 'big.csv', not 'other.csv'" in " ".join(err.split())


def test_workers_starting_at_one_instant_on_a_fresh_database_all_open_it(postgres_server: str, tmp_path: Path) -> None:
    urls = [fresh_database(postgres_server) for _ in range(3)]
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    env = {**os.environ, "PYTHONPATH": SRC}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _FIRST_USE, str(tmp_path / f"ws-{i}"), str(meeting), "6", *urls],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    failures = [err[-3000:] for p in procs for _, err in [p.communicate(timeout=600)] if p.returncode != 0]
    assert not failures, failures[0]
    for url in urls:
        assert _query(url, "SELECT run_id FROM runs") == [("big",)]
        assert _query(url, "SELECT COUNT(*) FROM checkpoint_migrations")[0][0] > 0


def test_sqlite_refuses_a_second_worker_on_a_run_and_names_postgres(
    indexed_settings: Settings, silver_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    _, cmd, first = start_batch(indexed_settings, silver_rows, tmp_path, "solo")
    try:
        second = subprocess.run(
            [*cmd[:-2], "-o", str(tmp_path / "second.csv")], capture_output=True, text=True, timeout=300
        )
        assert second.returncode == 2, second.stderr
        message = " ".join(second.stderr.split())
        assert "run 'solo' is being run by another process" in message
        assert "use a Postgres storage_url" in message and "Traceback" not in message
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate()
