"""A batch stopped mid-run, by SIGKILL or by Ctrl-C, loses nothing: the rerun finishes it with every
claim present exactly once."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from claimcourt.config import Settings
from tests.conftest import ctrl_c_reaches_it, read_csv, write_csv


def finished_claims(ledger: Path) -> int:
    if not ledger.exists():
        return 0
    try:
        with sqlite3.connect(ledger, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM claims WHERE status != 'queued'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def start_batch(
    settings: Settings, silver_rows: list[dict[str, str]], tmp_path: Path, run_id: str
) -> tuple[Path, list[str], subprocess.Popen[str]]:
    """300 real claims through `claimcourt run` in a subprocess, returned once 20 are committed."""
    batch = write_csv(tmp_path / "big.csv", [{"id": r["id"], "text": r["text"]} for r in silver_rows[80:380]])
    cmd = [sys.executable, "-m", "claimcourt.cli.app", "run", str(batch), "--run-id", run_id]
    cmd += ["--workspace", str(settings.workspace), "--max-concurrency", "4", "-o", str(tmp_path / "out.csv")]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ctrl_c_reaches_it
    )
    deadline = time.monotonic() + 240
    while finished_claims(settings.workspace / "runs.sqlite") < 20 and time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before it could be stopped: {proc.communicate()[1]}")
        time.sleep(0.2)
    return batch, cmd, proc


def test_sigkill_mid_batch_then_rerun(
    indexed_settings: Settings, silver_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    batch, cmd, proc = start_batch(indexed_settings, silver_rows, tmp_path, "killed")
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    done_before = finished_claims(indexed_settings.workspace / "runs.sqlite")
    assert 20 <= done_before < 300

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    rows = read_csv(tmp_path / "out.csv")
    ids = [r["id"] for r in rows]
    assert ids == [r["id"] for r in read_csv(batch)]  # every claim, exactly once, in input order
    assert all(r["decided_by"] in ("judge", "pending_review") for r in rows), [
        (r["id"], r["error"]) for r in rows if r["decided_by"] not in ("judge", "pending_review")
    ]
    assert "already finished" in rerun.stdout


def test_ctrl_c_stops_cleanly_and_says_how_to_resume(
    indexed_settings: Settings, silver_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    batch, _, proc = start_batch(indexed_settings, silver_rows, tmp_path, "interrupted")
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert f"Resume with: claimcourt run {batch} --run-id interrupted" in " ".join(stderr.split())
    partial = read_csv(tmp_path / "out.csv")  # what finished is already in the results
    assert 20 <= len(partial) < 300
    assert len({r["id"] for r in partial}) == len(partial)
