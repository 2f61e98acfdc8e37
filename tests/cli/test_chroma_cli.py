"""`index` and `run` against a Chroma folder and a `chroma run` server, and the store's bad input:
a chroma_url that is malformed or does not answer, a Chroma folder whose database is damaged."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.config import Settings
from claimcourt.workspace import WorkspacePaths
from tests.chroma_support import free_port
from tests.conftest import flat, read_csv

runner = CliRunner()


def one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return flat(lines[0])


def test_index_on_one_machine_run_on_another(
    store_settings: Settings, silver_index_csv: Path, silver_batch_csv: Path, tmp_path: Path
) -> None:
    """With a server, a worker whose workspace holds nothing of the store (another machine) runs on
    what another indexed; with a folder, both commands share the workspace."""
    url = store_settings.retrieval.chroma_url
    indexing_ws = store_settings.workspace
    worker_ws = tmp_path / "worker-ws" if url else indexing_ws
    store_flags = ["--chroma-url", url] if url else []
    env = {"CLAIMCOURT_RETRIEVAL__COLLECTION": store_settings.retrieval.collection}
    indexed = runner.invoke(app, ["index", str(silver_index_csv), "-w", str(indexing_ws), *store_flags], env=env)
    assert indexed.exit_code == 0, indexed.output
    assert "The index holds 80 labelled claims" in flat(indexed.output)
    if url:
        # The worker finds the server through its own TOML file, not a flag.
        worker_ws.mkdir()
        (worker_ws / "claimcourt.toml").write_text(f'[retrieval]\nchroma_url = "{url}"\n')
    out = tmp_path / "labels.csv"
    args = ["run", str(silver_batch_csv), "-w", str(worker_ws), "-o", str(out), "--limit", "8"]
    ran = runner.invoke(app, args, env=env)
    assert ran.exit_code == 0, ran.output
    rows = read_csv(out)
    assert len(rows) == 8
    assert {r["decided_by"] for r in rows} <= {"judge", "pending_review"}
    assert not (WorkspacePaths(worker_ws).chroma.exists() and url)
    again = runner.invoke(app, ["index", str(silver_index_csv), "-w", str(indexing_ws), *store_flags], env=env)
    assert "0 added, 0 re-embedded (text changed), 0 relabelled, 80 unchanged" in flat(again.output)


@pytest.mark.parametrize("command", ["index", "run"])
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("localhost:8000", "setting 'retrieval.chroma_url'"),
        ("http://127.0.0.1:99999", "has a port that is not a number"),
        ("http://127.0.0.1:8000/api", "must be only scheme, host and port"),
    ],
)
def test_a_malformed_chroma_url_exits_2(tmp_path: Path, command: str, url: str, message: str) -> None:
    (tmp_path / "claims.csv").write_text("id,text,label\n1,a solar cell,1\n")
    result = runner.invoke(
        app, [command, str(tmp_path / "claims.csv"), "-w", str(tmp_path / "ws"), "--chroma-url", url]
    )
    assert result.exit_code == 2, result.output
    assert message in one_error_line(result.output)
    assert not (tmp_path / "ws").exists()


@pytest.mark.parametrize("command", ["index", "run"])
def test_a_chroma_url_that_does_not_answer_exits_2_and_changes_nothing(tmp_path: Path, command: str) -> None:
    (tmp_path / "claims.csv").write_text("id,text,label\n1,a solar cell,1\n")
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {"CLAIMCOURT_RETRIEVAL__CHROMA_URL": url}
    result = runner.invoke(app, [command, str(tmp_path / "claims.csv"), "-w", str(tmp_path / "ws")], env=env)
    assert result.exit_code == 2, result.output
    line = one_error_line(result.output)
    assert f"retrieval.chroma_url '{url}': no Chroma server answers there" in line
    assert "chroma run --path" in line
    assert not (tmp_path / "ws").exists()


def _damage_database(chroma: Path) -> None:
    database = chroma / "chroma.sqlite3"
    with database.open("r+b") as fh:
        fh.truncate(database.stat().st_size // 3)


def _damage_header(chroma: Path) -> None:
    (chroma / "chroma.sqlite3").write_bytes(b"not a database " * 512)


@pytest.mark.parametrize(
    ("damage", "then_rebuild"), [(_damage_database, True), (_damage_header, False)], ids=["truncated", "overwritten"]
)
def test_a_damaged_chroma_folder_says_index_rebuilds_it_and_index_does(
    indexed_settings: Settings, silver_index_csv: Path, silver_batch_csv: Path, damage: object, then_rebuild: bool
) -> None:
    ws = indexed_settings.workspace
    chroma = WorkspacePaths(ws).chroma
    assert callable(damage)
    damage(chroma)
    failed = runner.invoke(app, ["run", str(silver_batch_csv), "-w", str(ws)])
    assert failed.exit_code == 2, failed.output
    line = one_error_line(failed.output)
    assert f"{chroma}: the Chroma database in this folder cannot be read" in line
    assert "`claimcourt index FILE` rebuilds the store" in line
    assert not WorkspacePaths(ws).ledger.exists()  # the run was not started
    if not then_rebuild:
        return  # rebuilding is the same whatever the damage: once is enough

    rebuilt = runner.invoke(app, ["index", str(silver_index_csv), "-w", str(ws)])
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "The index holds 80 labelled claims" in flat(rebuilt.output)
    set_aside = [p for p in ws.iterdir() if p.name.startswith("chroma.damaged-")]
    assert len(set_aside) == 1 and (set_aside[0] / "chroma.sqlite3").exists()  # moved, not deleted
    assert str(set_aside[0]) in flat(rebuilt.output)

    ran = runner.invoke(app, ["run", str(silver_batch_csv), "-w", str(ws), "--limit", "4"])
    assert ran.exit_code == 0, ran.output
