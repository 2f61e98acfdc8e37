"""Bad input a user can give: one line naming the file (and row), exit 2, no traceback, nothing that was
already done lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.config import Settings
from claimcourt.jobs.runner import Runner
from claimcourt.tables import ClaimTable
from claimcourt.workspace import WorkspacePaths
from tests.conftest import FakeBackend, write_csv

CLAIMS = [{"id": f"c{i}", "text": f"A solar panel number {i} with an inverter."} for i in range(4)]


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def one_line_error(code: int, out: str, *needles: str) -> None:
    assert code == 2, out
    assert "Traceback" not in out and out.count("error:") == 1, out
    flat = " ".join(out.split())
    for needle in needles:
        assert needle in flat, flat


@pytest.fixture
def claims_csv(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "claims.csv", CLAIMS)


@pytest.fixture
def ran(indexed_settings: Settings, claims_csv: Path) -> Settings:
    """A workspace holding run 'r1' of the four claims (a fake Judge decides them all)."""
    from claimcourt.deps import Deps, build_search

    deps = Deps(settings=indexed_settings, search=build_search(indexed_settings), backend=FakeBackend())
    asyncio.run(Runner(indexed_settings, deps=deps).run(ClaimTable(claims_csv), run_id="r1"))
    return indexed_settings


def test_run_to_a_directory_stops_before_debating(ran: Settings, claims_csv: Path, tmp_path: Path) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    code, out = invoke("run", str(claims_csv), "-o", str(out_dir), "--run-id", "r2", "-w", str(ran.workspace))
    one_line_error(code, out, str(out_dir), "is a directory")
    code, runs = invoke("runs", "-w", str(ran.workspace), "-f", "json")
    assert '"r2"' not in runs  # nothing was started


@pytest.mark.parametrize(
    "command",
    [
        ["run", "{claims}", "-o", "{file}/results.csv", "--run-id", "r3"],
        ["export", "-o", "{file}/gold.csv", "--run-id", "r1"],
        ["export", "-o", "{dir}", "--run-id", "r1"],
        ["trace", "c1", "--run-id", "r1", "-f", "md", "-o", "{file}/trace.md"],
        ["trace", "c1", "--run-id", "r1", "-f", "json", "-o", "{dir}"],
        ["eval", "{results}", "--gold", "{claims}", "-o", "{file}/eval"],
        ["review", "--from", "{dir}", "--shown", "--run-id", "r1", "--reviewer", "ann"],
        ["runs", "--config", "{dir}"],
        ["pending", "-w", "{file}"],
    ],
)
def test_paths_that_cannot_be_used_are_one_line(
    ran: Settings, claims_csv: Path, tmp_path: Path, command: list[str]
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n")
    a_dir = tmp_path / "a-dir"
    a_dir.mkdir()
    results = WorkspacePaths(ran.workspace).run_dir("r1") / "results.csv"
    values = {"claims": str(claims_csv), "file": str(a_file), "dir": str(a_dir), "results": str(results)}
    args = [part.format(**values) for part in command]
    if "-w" not in args:
        args += ["-w", str(ran.workspace)]
    code, out = invoke(*args)
    one_line_error(code, out, str(a_file) if "{file}" in " ".join(command) else str(a_dir))


def test_an_unclosed_quote_stops_at_its_row(ran: Settings, tmp_path: Path) -> None:
    lines = ["id,text", "k1,A solar panel.", 'k2,"A wind turbine blade', *[f"k{i},A shoe {i}." for i in range(3, 40)]]
    bad = tmp_path / "unclosed.csv"
    bad.write_text("\n".join(lines) + "\n")
    code, out = invoke("run", str(bad), "--run-id", "q", "-w", str(ran.workspace))
    one_line_error(code, out, str(bad), "row 2", "quote")


def test_a_quote_that_closes_rows_later_is_caught(ran: Settings, tmp_path: Path) -> None:
    # The open quote of k2 is "closed" by the quote that opens k4's text: k2 would swallow k3.
    lines = ["id,text", "k1,A solar panel.", 'k2,"A wind turbine blade', "k3,A shoe.", 'k4,"A boot, with laces."']
    bad = tmp_path / "merged.csv"
    bad.write_text("\n".join(lines) + "\n")
    code, out = invoke("run", str(bad), "--run-id", "q", "-w", str(ran.workspace))
    one_line_error(code, out, str(bad), "row 2")


def test_a_field_running_over_many_lines_is_an_unclosed_quote(ran: Settings, tmp_path: Path) -> None:
    body = "\n".join(f"k{i},A shoe {i}." for i in range(3, 1200))
    bad = tmp_path / "long.csv"
    bad.write_text(f'id,text\nk1,A solar panel.\nk2,"A blade\n{body}\nend"\n')
    code, out = invoke("run", str(bad), "--run-id", "q", "-w", str(ran.workspace))
    one_line_error(code, out, str(bad), "row 2", "quote left open")


def test_a_claim_text_with_line_breaks_is_still_one_claim(tmp_path: Path) -> None:
    good = write_csv(tmp_path / "breaks.csv", [{"id": "m1", "text": "1. A method:\n a) heating;\n b) cooling."}])
    assert [row.text for row in ClaimTable(good).rows()] == ["1. A method:\n a) heating;\n b) cooling."]


def test_parquet_float_ids_are_read_as_integers_and_fractions_refused(ran: Settings, tmp_path: Path) -> None:
    whole = tmp_path / "whole.parquet"
    pq.write_table(pa.table({"id": [8456130.0, 12.0], "text": ["A solar panel.", "A wind turbine."]}), whole)
    assert [row.id for row in ClaimTable(whole).rows()] == ["8456130", "12"]
    fraction = tmp_path / "fraction.parquet"
    pq.write_table(pa.table({"id": [1.0, 2.5], "text": ["A solar panel.", "A wind turbine."]}), fraction)
    code, out = invoke("run", str(fraction), "--run-id", "f", "-w", str(ran.workspace))
    one_line_error(code, out, str(fraction), "row 2", "2.5", "not a whole number")


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(b"this is not a database" + data[22:])


@pytest.mark.parametrize("how", ["truncated", "overwritten"])
@pytest.mark.parametrize(
    ("store", "command"),
    [
        ("runs.sqlite", ["runs"]),
        ("runs.sqlite", ["pending"]),
        ("runs.sqlite", ["export", "-o", "{tmp}/gold.csv"]),
        ("runs.sqlite", ["run", "{claims}", "--run-id", "r1"]),
        ("checkpoints.sqlite", ["trace", "c1", "--run-id", "r1"]),
        ("checkpoints.sqlite", ["run", "{claims}", "--run-id", "r1"]),
    ],
)
def test_a_damaged_workspace_database_is_named(
    ran: Settings, claims_csv: Path, tmp_path: Path, store: str, command: list[str], how: str
) -> None:
    # A clean close leaves no write-ahead log: what is on disk is all there is.
    path = ran.workspace / store
    for suffix in ("-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    _damage(path, how)
    args = [part.format(tmp=tmp_path, claims=claims_csv) for part in command]
    code, out = invoke(*args, "-w", str(ran.workspace))
    one_line_error(code, out, store, "backup")


def test_a_decisions_sheet_with_an_open_quote_applies_nothing(ran: Settings, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.csv"
    sheet.write_text('id,label,note\nc1,1,"a note that never closes\nc2,0,x\n')
    code, out = invoke(
        "review", "--from", str(sheet), "--shown", "--run-id", "r1", "--reviewer", "ann", "-w", str(ran.workspace)
    )
    one_line_error(code, out, str(sheet), "row 1", "quote")
