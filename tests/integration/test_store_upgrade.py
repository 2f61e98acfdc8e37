"""A workspace made by the first release opens with this one: its schema is migrated, and threads
whose ids held ':' or '%' move to their injective ids (issue 15, item 6; issue 9, upgrading)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.config import Settings
from claimcourt.deps import Deps, build_search
from claimcourt.errors import StorageError
from claimcourt.jobs.runner import Runner
from claimcourt.store import SCHEMA_VERSION, open_store
from claimcourt.tables import ClaimTable
from claimcourt.trace.replay import replay
from tests.conftest import FakeBackend, read_csv, write_csv
from tests.store_support import add_legacy_claim, downgrade_to_first_release

IDS = {"q:1": "a claim whose id holds a colon", "50%:off": "a claim whose id holds a percent and a colon", "7": "plain"}


def _run(settings: Settings, tmp_path: Path) -> None:
    batch = write_csv(tmp_path / "b.csv", [{"id": k, "text": v} for k, v in IDS.items()])
    deps = Deps(settings, build_search(settings), FakeBackend())
    asyncio.run(Runner(settings, deps=deps).run(ClaimTable(batch), run_id="p"))


def test_a_first_release_workspace_is_migrated_and_its_threads_found(
    indexed_settings: Settings, tmp_path: Path
) -> None:
    _run(indexed_settings, tmp_path)
    downgrade_to_first_release(indexed_settings.workspace)
    with open_store(indexed_settings) as store:
        assert store.db.query_one("SELECT MAX(version) AS v FROM schema_version")["v"] == SCHEMA_VERSION  # type: ignore[index]
        assert store.ledger.counts("p")["judge"] == 3
    for claim_id, text in IDS.items():
        trace = asyncio.run(replay(indexed_settings, claim_id, run_id="p"))
        assert trace.state.text == text
    result = CliRunner().invoke(app, ["runs", "-w", str(indexed_settings.workspace), "-f", "json"])
    assert result.exit_code == 0 and '"decided_by_judge": 3' in result.output


def test_two_old_claims_sharing_a_thread_are_refused_in_one_line(settings: Settings) -> None:
    settings.workspace.mkdir(parents=True)
    with open_store(settings):
        pass
    downgrade_to_first_release(settings.workspace)
    add_legacy_claim(settings.workspace, "p", "q:1")
    add_legacy_claim(settings.workspace, "p:q", "1")
    with pytest.raises(StorageError, match=r"run 'p' claim 'q:1' and run 'p:q' claim '1' share one thread"):
        open_store(settings)
    result = CliRunner().invoke(app, ["runs", "-w", str(settings.workspace)])
    assert result.exit_code == 2
    assert "share one thread" in result.output and "Traceback" not in result.output
    with sqlite3.connect(settings.workspace / "runs.sqlite") as conn:  # nothing was changed
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'schema_version'").fetchone() is None


def test_a_schema_newer_than_the_code_is_refused(settings: Settings) -> None:
    with open_store(settings) as store, store.transaction():
        store.db.execute("INSERT INTO schema_version VALUES (?, 'later')", (SCHEMA_VERSION + 1,))
    result = CliRunner().invoke(app, ["runs", "-w", str(settings.workspace)])
    assert result.exit_code == 2
    assert f"schema version {SCHEMA_VERSION + 1}, newer than this release" in " ".join(result.output.split())


def test_run_ids_that_would_choose_a_path_are_refused_before_anything_runs(
    indexed_settings: Settings, tmp_path: Path
) -> None:
    batch = write_csv(tmp_path / "b.csv", [{"id": "1", "text": "a claim"}])
    for bad in ("c/d", "..", "a:b"):
        result = CliRunner().invoke(app, ["run", str(batch), "--run-id", bad, "-w", str(indexed_settings.workspace)])
        assert result.exit_code == 2, result.output
        assert "is not allowed: use 1-128 characters from A-Z a-z 0-9 . _ -" in " ".join(result.output.split())
    assert not (indexed_settings.workspace / "runs").exists()


FIRST_RELEASE = "6eb1ad9"


def test_a_workspace_made_by_the_first_release_keeps_working(silver_rows: list[dict[str, str]], tmp_path: Path) -> None:
    """The first release's own code makes the workspace (index, run, a decision); this one uses it."""
    import io
    import os
    import subprocess
    import sys
    import tarfile

    repo = Path(__file__).resolve().parents[2]
    archive = subprocess.run(["git", "-C", str(repo), "archive", FIRST_RELEASE, "src"], capture_output=True)
    if archive.returncode != 0:
        pytest.skip(f"commit {FIRST_RELEASE} (the first release) is not in this clone")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(tmp_path / "old", filter="data")
    ws = tmp_path / "ws"
    labelled = write_csv(tmp_path / "labelled.csv", silver_rows[:80])
    batch = write_csv(tmp_path / "batch.csv", [{"id": r["id"], "text": r["text"]} for r in silver_rows[80:92]])
    first = silver_rows[80]["id"]
    decisions = write_csv(tmp_path / "d.csv", [{"id": first, "label": "1"}])
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "old" / "src")}
    for args in (
        ["index", str(labelled)],
        ["run", str(batch), "--run-id", "first", "--threshold", "0.99"],
        ["review", "--from", str(decisions), "--run-id", "first", "--reviewer", "ann"],
    ):
        old = subprocess.run(
            [sys.executable, "-m", "claimcourt.cli.app", *args, "-w", str(ws)], env=env, capture_output=True, text=True
        )
        assert old.returncode == 0, old.stderr
    with sqlite3.connect(ws / "runs.sqlite") as conn:  # really the first release's schema
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'schema_version'").fetchone() is None

    def cli(*args: str) -> str:
        result = CliRunner().invoke(app, [*args, "-w", str(ws)])
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())

    assert '"waiting": 11' in cli("runs", "-f", "json") and '"decided_by_human": 1' in cli("runs", "-f", "json")
    second = silver_rows[81]["id"]
    cli(
        "review",
        "--shown",
        "--from",
        # The people saw the Judge (--shown): a row that overrules it says why (the review policy).
        str(write_csv(tmp_path / "d2.csv", [{"id": second, "label": "0", "note": "read the claim"}])),
        "--run-id",
        "first",
        "--reviewer",
        "bob",
    )
    assert '"waiting": 10' in cli("runs", "-f", "json")
    assert first in cli("trace", first, "--run-id", "first")
    gold = tmp_path / "gold.csv"
    cli("export", "--run-id", "first", "-o", str(gold))
    labels = {r["id"]: (r["label"], r["decided_by"]) for r in read_csv(gold)}
    assert labels[first] == ("1", "human") and labels[second] == ("0", "human")
