"""Decisions made inline in `trace --text/--from`: one decision path (the review desk), saved before the
next prompt, and Ctrl-C at any prompt stops at once saying what was saved (in a real pty)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pexpect
import pytest
from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.config import Settings, load_settings
from claimcourt.jobs.index import index_file
from claimcourt.store import open_store
from tests.conftest import write_csv

CLAIM = "A wind turbine blade with a lightweight composite spar that increases the energy captured from the wind."
CLAIMCOURT = Path(sys.executable).with_name("claimcourt")
SOURCES = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, silver_rows: list[dict[str, str]]) -> Settings:
    root = tmp_path_factory.mktemp("trace-decisions")
    settings = load_settings(overrides={"workspace": root / "ws"}, environ={})
    green = [r for r in silver_rows if r["label"] == "1"][:12]
    other = [r for r in silver_rows if r["label"] == "0"][:12]
    index_file(write_csv(root / "labelled.csv", green + other), settings)
    return settings


def invoke(settings: Settings, *args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, [*args, "-w", str(settings.workspace)], input=input)


def where_it_stands(settings: Settings, run_id: str, claim_id: str) -> tuple[str, list[str]]:
    """(the ledger's status, the reviewers in the reviews table) of one claim."""
    store = open_store(settings)
    try:
        stored = store.ledger.claim(run_id, claim_id)
        reviews = store.reviews.active(run_id=run_id, claim_id=claim_id)
    finally:
        store.close()
    assert stored is not None
    return stored.status, [r.reviewer for r in reviews]


def run_summary(settings: Settings, run_id: str) -> dict[str, object]:
    runs = json.loads(invoke(settings, "runs", "--format", "json").stdout)
    return next(r for r in runs if r["run_id"] == run_id)


def test_an_inline_decision_is_counted_by_agreement(indexed: Settings) -> None:
    args = ["trace", "--text", CLAIM, "--id", "inline-1", "--run-id", "t-agree", "--threshold", "1.0"]
    result = invoke(indexed, *args, "--reviewer", "cleo", input="1\nwind energy\n")
    assert result.exit_code == 0, result.output

    assert where_it_stands(indexed, "t-agree", "inline-1") == ("human", ["cleo"]), result.output
    report = json.loads(invoke(indexed, "agreement", "--run-id", "t-agree", "--json").stdout)
    assert report["decisions"] == 1 and report["claims"] == 1
    assert report["judge_vs_people"] and report["judge_vs_people"][0]["n"] == 1
    summary = run_summary(indexed, "t-agree")
    assert (summary["decided_by_human"], summary["waiting"], summary["not_run"]) == (1, 0, 0)
    replayed = invoke(indexed, "trace", "inline-1", "--run-id", "t-agree", "-f", "json")
    assert json.loads(replayed.stdout)[-1]["output"]["decided_by"] == "human"


def spawn(settings: Settings, *args: str) -> pexpect.spawn:
    # The child runs in the test's temporary directory: this checkout's sources by absolute path.
    path = os.pathsep.join(p for p in (str(SOURCES), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "COLUMNS": "160", "TERM": "xterm", "PYTHONPATH": path}
    child = pexpect.spawn(
        str(CLAIMCOURT), [*args, "-w", str(settings.workspace)], env=env, encoding="utf-8", timeout=120
    )
    child.delaybeforesend = 0.2
    return child


def stop_and_wait(child: pexpect.spawn) -> str:
    """Ctrl-C, then what the process said as it ended. No Enter is ever sent, so its ending at all
    shows it stopped at once rather than at the next Enter (the timeout only ends a failing test)."""
    child.sendintr()
    child.expect(pexpect.EOF, timeout=300)
    child.close()
    return " ".join(child.before.split())


def test_ctrl_c_at_the_step_prompt_after_a_decision_keeps_it(indexed: Settings) -> None:
    child = spawn(indexed, "trace", "--text", CLAIM, "--id", "step-1", "--run-id", "t-step", "--threshold", "1.0",
                  "--step", "--reviewer", "dana")  # fmt: skip
    for _ in range(4):  # retrieve, advocate, skeptic, judge
        child.expect("Enter for the next step")
        child.sendline("")
    child.expect("Label\\?")
    child.sendline("0")
    child.expect("Note")
    child.sendline("only a blade shape")
    child.expect("human_review")
    child.expect("Enter for the next step")

    said = stop_and_wait(child)

    assert child.exitstatus == 130, said
    assert "Traceback" not in said
    assert "Stopped." in said and "decision (label 0 by dana) is saved" in said
    assert where_it_stands(indexed, "t-step", "step-1") == ("human", ["dana"])
    summary = run_summary(indexed, "t-step")
    assert (summary["decided_by_human"], summary["waiting"], summary["not_run"]) == (1, 0, 0)


def test_ctrl_c_at_the_label_prompt_leaves_the_claim_waiting_everywhere(indexed: Settings) -> None:
    child = spawn(indexed, "trace", "--text", CLAIM, "--id", "ask-1", "--run-id", "t-ask", "--threshold", "1.0")
    child.expect("Label\\?")

    said = stop_and_wait(child)

    assert child.exitstatus == 130, said
    assert "Traceback" not in said
    assert "waits for a person" in said and "claimcourt review --run-id t-ask" in said
    assert where_it_stands(indexed, "t-ask", "ask-1") == ("pending_review", [])
    summary = run_summary(indexed, "t-ask")
    assert (summary["waiting"], summary["not_run"]) == (1, 0)
    pending = invoke(indexed, "pending", "--run-id", "t-ask", "--ids")
    assert pending.stdout.split() == ["ask-1"]
    # The review session the message names can decide it.
    sheet = write_csv(indexed.workspace.parent / "sheet.csv", [{"id": "ask-1", "label": 1}])
    decided = invoke(indexed, "review", "--from", str(sheet), "--shown", "--run-id", "t-ask", "--reviewer", "eve")
    assert decided.exit_code == 0, decided.output
    assert where_it_stands(indexed, "t-ask", "ask-1") == ("human", ["eve"])
