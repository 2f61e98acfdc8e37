"""Claim texts, ids, notes and reviewer names that try to take over a terminal or a spreadsheet.

Every command shows data as text: no escape sequence, carriage return or bidi override reaches the
terminal, and rich markup in data is printed as it is written (never styles, never crashes). Every CSV
claimcourt writes neutralises cells that a spreadsheet would run as formulas; Parquet and JSONL keep the
exact text.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.config import Settings
from claimcourt.jobs.runner import Runner
from claimcourt.tables import ClaimTable
from tests.conftest import FakeBackend, read_csv, write_csv

RUN = "hostile"
ESC = "\x1b"
# id -> text; each id and text tries something different.
HOSTILE = {
    "=cmd|' /C calc'!A0": '=HYPERLINK("http://evil.example","click") a claim that is a formula',
    "-2+3": "+SUM(1,2) starts with a plus",
    "@SUM(A1)": "  @import starts with spaces then an at sign",
    "[bold]loud[/]": "[/] closes markup that was never opened [bold red]and opens more",
    "esc\x1b[2J\x1b]0;pwned\x07": "\x1b[2J\x1b[H\x1b]0;retitled\x07Judge: GREEN 0.99 (fake verdict line)\rover",
    "bidi\u202eevil": "text with a right-to-left override \u202e and a tab\tstart\x1b[31m red",
    "\tTAB-start": "\r-carriage return first",
    "plain-1": "1. A solar panel comprising a photovoltaic cell and an inverter.",
}
# These wait for a person (the Judge is unsure); the rest are decided by the Judge.
WAITING = ["=cmd|' /C calc'!A0", "@SUM(A1)", "[bold]loud[/]", "esc\x1b[2J\x1b]0;pwned\x07"]
REVIEWER = "[/]\x1b[31mmallory[bold]"
NOTE = "=1+1 \x1b]0;title\x07 [/] note"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def assert_shown_as_text(code: int, out: str) -> None:
    assert code == 0, out
    assert "Traceback" not in out
    assert ESC not in out and "\r" not in out and "\u202e" not in out and "\x07" not in out, repr(out)


@pytest.fixture
def hostile_ws(indexed_settings: Settings, tmp_path: Path) -> Path:
    """A run of the hostile claims: half wait for a person, half are decided by the Judge."""
    batch = write_csv(tmp_path / "hostile.csv", [{"id": i, "text": t} for i, t in HOSTILE.items()])
    waiting = dict.fromkeys(WAITING, 0.55)
    asyncio.run(
        Runner(indexed_settings, deps=_deps(indexed_settings, FakeBackend(waiting))).run(ClaimTable(batch), run_id=RUN)
    )
    return indexed_settings.workspace


def _deps(settings: Settings, backend: FakeBackend):  # type: ignore[no-untyped-def]
    from claimcourt.deps import Deps, build_search

    return Deps(settings=settings, search=build_search(settings), backend=backend)  # type: ignore[arg-type]


def _decide_half(ws: Path, tmp_path: Path) -> None:
    waiting = WAITING[:2]
    sheet = write_csv(tmp_path / "sheet.csv", [{"id": i, "label": 1, "note": NOTE} for i in waiting])
    code, out = invoke(
        "review", "--from", str(sheet), "--shown", "--reviewer", REVIEWER, "-w", str(ws), "--run-id", RUN
    )
    assert_shown_as_text(code, out)


def test_results_csv_neutralises_formulas_and_jsonl_keeps_the_text(hostile_ws: Path) -> None:
    results = read_csv(hostile_ws / "runs" / RUN / "results.csv")
    by_id = {r["id"]: r for r in results}
    assert "'=cmd|' /C calc'!A0" in by_id and "'-2+3" in by_id and "'@SUM(A1)" in by_id
    for row in results:
        for column, cell in row.items():
            assert not cell.lstrip(" ").startswith(("=", "+", "-", "@")), (column, cell)
            assert not cell.startswith(("\t", "\r")), (column, cell)
        # Numbers we write stay numbers.
        float(row["p_green"])
        float(row["confidence"])
    debates = [json.loads(line) for line in (hostile_ws / "runs" / RUN / "results.jsonl").read_text().splitlines()]
    assert {d["claim_id"]: d["text"] for d in debates} == {i.strip(): t.strip() for i, t in HOSTILE.items()}


def test_a_results_csv_reads_back_with_the_exact_ids(hostile_ws: Path) -> None:
    table = ClaimTable(hostile_ws / "runs" / RUN / "results.csv", text_col="advocate")
    assert [row.id for row in table.rows()] == [i.strip() for i in HOSTILE]


def test_export_csv_is_spreadsheet_safe_and_parquet_exact(hostile_ws: Path, tmp_path: Path) -> None:
    _decide_half(hostile_ws, tmp_path)
    code, out = invoke("export", "-o", str(tmp_path / "gold.csv"), "-w", str(hostile_ws), "--run-id", RUN)
    assert_shown_as_text(code, out)
    rows = read_csv(tmp_path / "gold.csv")
    assert {r["id"] for r in rows} >= {"'=cmd|' /C calc'!A0", "'-2+3"}
    for row in rows:
        for column, cell in row.items():
            assert not cell.lstrip(" ").startswith(("=", "+", "-", "@")), (column, cell)
    noted = [r for r in rows if r["note"]]
    assert noted and all(r["note"] == "'" + NOTE for r in noted)
    code, out = invoke("export", "-o", str(tmp_path / "gold.parquet"), "-w", str(hostile_ws), "--run-id", RUN)
    assert_shown_as_text(code, out)
    table = pq.read_table(tmp_path / "gold.parquet").to_pylist()
    assert {r["id"] for r in table} >= {"=cmd|' /C calc'!A0", "-2+3"}
    assert {r["note"] for r in table if r["note"]} == {NOTE}


@pytest.mark.parametrize(
    "command",
    [
        ("pending",),
        ("pending", "--run-id", RUN),
        ("pending", "--ids"),
        ("runs",),
        ("agreement",),
    ],
)
def test_listing_commands_show_data_as_text(hostile_ws: Path, tmp_path: Path, command: tuple[str, ...]) -> None:
    _decide_half(hostile_ws, tmp_path)
    code, out = invoke(*command, "-w", str(hostile_ws))
    assert_shown_as_text(code, out)


def test_pending_shows_markup_in_ids_literally(hostile_ws: Path) -> None:
    code, out = invoke("pending", "--run-id", RUN, "-w", str(hostile_ws))
    assert_shown_as_text(code, out)
    assert "[bold]loud[/]" in out
    assert "␛" in out  # the escape made visible, not sent


@pytest.mark.parametrize("claim_id", ["[bold]loud[/]", "esc\x1b[2J\x1b]0;pwned\x07", "bidi\u202eevil"])
@pytest.mark.parametrize("format_", ["rich", "md"])
def test_trace_replay_shows_data_as_text(hostile_ws: Path, tmp_path: Path, claim_id: str, format_: str) -> None:
    _decide_half(hostile_ws, tmp_path)
    code, out = invoke("trace", claim_id, "--run-id", RUN, "-f", format_, "-w", str(hostile_ws))
    assert_shown_as_text(code, out)


def test_an_unknown_hostile_id_is_one_visible_line(hostile_ws: Path) -> None:
    code, out = invoke("trace", "\x1b]0;x\x07[/]nope", "--run-id", RUN, "-w", str(hostile_ws))
    assert code == 2
    assert "Traceback" not in out and ESC not in out and "\x07" not in out
    assert "[/]nope" in out


def test_a_hostile_reviewer_name_is_refused_or_shown_as_text(hostile_ws: Path, tmp_path: Path) -> None:
    _decide_half(hostile_ws, tmp_path)
    code, out = invoke("agreement", "--run-id", RUN, "-w", str(hostile_ws))
    assert_shown_as_text(code, out)


def test_the_review_screen_shows_a_hostile_claim_and_reviewer_as_text(hostile_ws: Path) -> None:
    from claimcourt.config import load_settings
    from claimcourt.review.desk import ReviewDesk
    from claimcourt.review.tui.app import ReviewApp
    from claimcourt.review.tui.session import Session
    from tests.tui_support import screen_text

    settings = load_settings(overrides={"workspace": hostile_ws}, environ={})

    async def screens() -> list[str]:
        shown = []
        async with ReviewDesk(settings, RUN) as desk:
            app = ReviewApp(Session(desk, reviewer=REVIEWER, blind=False))
            async with app.run_test(size=(160, 50)) as pilot:
                for _ in WAITING:
                    await pilot.pause()
                    shown.append(screen_text(app))
                    await pilot.press("s")
        return shown

    seen = asyncio.run(screens())
    assert seen and all(ESC not in screen and "\x07" not in screen and "\u202e" not in screen for screen in seen)
    assert any("mallory" in screen for screen in seen)  # the reviewer's name is on screen, as text


def test_select_output_is_text_on_screen_and_safe_in_the_csv(hostile_ws: Path, tmp_path: Path) -> None:
    pool = write_csv(tmp_path / "pool.csv", [{"id": i, "text": t} for i, t in HOSTILE.items()])
    picked = tmp_path / "picked.csv"
    code, out = invoke("select", str(pool), "-n", "8", "-o", str(picked), "-w", str(hostile_ws))
    assert_shown_as_text(code, out)
    rows = read_csv(picked)
    assert rows and all(not r["id"].lstrip(" ").startswith(("=", "+", "-", "@")) for r in rows)
    assert {row.id for row in ClaimTable(picked).rows()} == {i.strip() for i in HOSTILE}
