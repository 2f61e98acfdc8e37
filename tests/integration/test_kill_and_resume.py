"""A batch killed with SIGKILL mid-run finishes on the rerun with every claim present exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from claimcourt.config import Settings
from tests.conftest import read_csv, write_csv


def finished_claims(ledger: Path) -> int:
    if not ledger.exists():
        return 0
    try:
        with sqlite3.connect(ledger, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM claims WHERE status != 'queued'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_mid_batch_then_rerun(
    indexed_settings: Settings, silver_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    batch = write_csv(tmp_path / "big.csv", [{"id": r["id"], "text": r["text"]} for r in silver_rows[80:380]])
    ws = indexed_settings.workspace
    cmd = [
        sys.executable,
        "-m",
        "claimcourt.cli.app",
        "run",
        str(batch),
        "--run-id",
        "killed",
        "--workspace",
        str(ws),
        "--max-concurrency",
        "4",
        "-o",
        str(tmp_path / "out.csv"),
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    # Kill once some claims are committed, well before the end.
    while finished_claims(ws / "runs.sqlite") < 20 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = finished_claims(ws / "runs.sqlite")
    assert 20 <= done_before < 300

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    rows = read_csv(tmp_path / "out.csv")
    ids = [r["id"] for r in rows]
    assert ids == [r["id"] for r in read_csv(batch)]  # every claim, exactly once, in input order
    assert all(r["decided_by"] in ("judge", "pending_review") for r in rows)
    assert "already finished" in rerun.stdout


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(
    indexed_settings: Settings, silver_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    batch = write_csv(tmp_path / "big.csv", [{"id": r["id"], "text": r["text"]} for r in silver_rows[80:380]])
    ws = indexed_settings.workspace
    cmd = [
        sys.executable,
        "-m",
        "claimcourt.cli.app",
        "run",
        str(batch),
        "--run-id",
        "interrupted",
        "--workspace",
        str(ws),
        "--max-concurrency",
        "4",
        "-o",
        str(tmp_path / "out.csv"),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while finished_claims(ws / "runs.sqlite") < 20 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert f"Resume with: claimcourt run {batch} --run-id interrupted" in " ".join(stderr.split())
    partial = read_csv(tmp_path / "out.csv")  # what finished is already in the results
    assert 20 <= len(partial) < 300
    assert len({r["id"] for r in partial}) == len(partial)
