"""`claimcourt select`: bad input exits 2 before anything is embedded."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from claimcourt.cli.app import app
from tests.conftest import write_csv

runner = CliRunner()


def test_pool_without_a_text_column_exits_2(tmp_path: Path) -> None:
    pool = write_csv(tmp_path / "pool.csv", [{"id": "1", "body": "x"}])
    got = runner.invoke(app, ["select", str(pool), "--workspace", str(tmp_path / "ws")])
    assert got.exit_code == 2, got.output
    assert "no text column found" in " ".join(got.output.split())


def test_workspace_without_an_index_exits_2(tmp_path: Path) -> None:
    pool = write_csv(tmp_path / "pool.csv", [{"id": "1", "text": "a claim"}])
    got = runner.invoke(app, ["select", str(pool), "--workspace", str(tmp_path / "ws"), "-o", str(tmp_path / "h.csv")])
    assert got.exit_code == 2, got.output
    assert "claimcourt index" in " ".join(got.output.split())
    assert not (tmp_path / "h.csv").exists()


def test_n_below_one_is_refused(tmp_path: Path) -> None:
    pool = write_csv(tmp_path / "pool.csv", [{"id": "1", "text": "a claim"}])
    got = runner.invoke(app, ["select", str(pool), "--n", "0"])
    assert got.exit_code == 2
