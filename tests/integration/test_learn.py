"""`claimcourt learn`: Judge versions, and `--rejudge` shrinking a run's queue, exactly once under SIGKILL.

The workspace of `review_support`: 80 real silver claims indexed (Judge v1, the index's fit) and run
'r1' whose 24 claims all wait (threshold 0.999). Decisions are made on r1; a second run 'r3' at the
usual threshold 0.70 is what gets re-judged.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.config import Settings
from claimcourt.graph.builder import build_graph
from claimcourt.jobs.runner import Runner
from claimcourt.review.desk import ReviewDesk
from claimcourt.state import ClaimState, HumanDecision
from claimcourt.store import open_checkpointer, thread_config
from claimcourt.tables import ClaimTable
from claimcourt.workspace import WorkspacePaths
from tests.conftest import read_csv, write_csv
from tests.review_support import RUN_ID, review_settings, review_ws, store_at, waiting_states

__all__ = ["review_settings", "review_ws"]
cli = CliRunner()


def _learn(settings: Settings, *args: str) -> Any:
    return cli.invoke(app, ["learn", *args, "--workspace", str(settings.workspace)])


def _decide_not_green(settings: Settings, count: int) -> list[str]:
    """A reviewer says "not green" to the first `count` waiting claims of r1 (people's usual answer on
    the hardest claims), so the refitted Judge has a base rate to learn."""
    ids = [s.claim_id for s in waiting_states(settings.workspace)[:count]]

    async def go() -> None:
        async with ReviewDesk(settings, RUN_ID) as desk:
            for claim_id in ids:
                await desk.decide(
                    claim_id, HumanDecision(label=0, reviewer="ann", note="not climate tech"), source="interactive"
                )

    asyncio.run(go())
    return ids


def _run(settings: Settings, tmp_path: Path, run_id: str, rows: list[dict[str, str]], threshold: float) -> None:
    batch = write_csv(tmp_path / f"{run_id}.csv", rows)
    run_settings = settings.model_copy(update={"threshold": threshold})
    asyncio.run(Runner(run_settings).run(ClaimTable(batch), run_id=run_id))


def _states(settings: Settings, run_id: str) -> dict[str, tuple[str, ClaimState]]:
    with store_at(settings.workspace) as store:
        found = [(c.claim_id, c.status, c.state()) for c in store.ledger.claims(run_id)]
    return {claim_id: (status, state) for claim_id, status, state in found if state is not None}


def _judge_version(settings: Settings) -> int:
    judge = next(settings.workspace.glob("*judge*.json"))
    return int(json.loads(judge.read_text())["fit"]["version"])


def test_learn_without_decisions_or_with_an_unknown_run_says_so_in_one_line(review_settings: Settings) -> None:
    nothing = _learn(review_settings)
    assert nothing.exit_code == 2
    assert "no human decisions to learn from" in nothing.output and len(nothing.output.strip().splitlines()) == 1
    unknown = _learn(review_settings, "--run-id", "nope", "--rejudge")
    assert unknown.exit_code == 2
    assert "unknown run id 'nope'" in unknown.output and len(unknown.output.strip().splitlines()) == 1
    assert "Traceback" not in nothing.output + unknown.output


def test_learn_makes_the_next_version_and_claims_judged_afterwards_record_it(
    review_settings: Settings, tmp_path: Path
) -> None:
    assert _judge_version(review_settings) == 1  # the index's fit
    before = _states(review_settings, RUN_ID)
    decided = _decide_not_green(review_settings, 12)

    result = _learn(review_settings)
    assert result.exit_code == 0, result.output
    assert "Judge v2 (learn" in result.output and "12 human decisions x5" in result.output
    assert "recall not green" in result.output
    assert _judge_version(review_settings) == 2

    rows = [{"id": "new-1", "text": before[decided[0]][1].text + " It is blue."}]
    _run(review_settings, tmp_path, "r2", rows, 0.70)
    ((_, state),) = _states(review_settings, "r2").values()
    assert state.verdict is not None and state.verdict.judge_version == 2
    listed = cli.invoke(app, ["runs", "--format", "json", "--workspace", str(review_settings.workspace)])
    by_run = {r["run_id"]: r["judge_versions"] for r in json.loads(listed.stdout)}
    assert by_run["r2"] == {"v2": 1} and by_run[RUN_ID] == {"v1": 24}
    (row,) = read_csv(WorkspacePaths(review_settings.workspace).run_dir("r2") / "results.csv")
    assert (row["judge_version"], row["rejudged"]) == ("2", "false")

    # r1 run again under the same id: its claims keep the version that judged them.
    _run(review_settings, tmp_path, RUN_ID, [{"id": c, "text": s.text} for c, (_, s) in before.items()], 0.999)
    after = _states(review_settings, RUN_ID)
    assert {c: s.verdict.judge_version for c, (_, s) in after.items() if s.verdict} == dict.fromkeys(before, 1)

    again = _learn(review_settings)
    assert again.exit_code == 0, again.output
    assert "No decision changed since Judge v2" in again.output and _judge_version(review_settings) == 2


async def _children_of_before_judge(settings: Settings, run_id: str, claim_id: str) -> tuple[int, list[int | None]]:
    """How many times the Judge ran in the thread (checkpoints written by `judge`: their parent was due
    to run it), and the Judge versions of the verdicts in its whole history."""
    async with open_checkpointer(settings) as saver:
        graph = build_graph(saver)
        history = [s async for s in graph.aget_state_history(thread_config(run_id, claim_id))]
    before = {s.config["configurable"]["checkpoint_id"] for s in history if tuple(s.next) == ("judge",)}
    judged = [
        s
        for s in history
        if s.parent_config
        and s.parent_config["configurable"]["checkpoint_id"] in before
        and s.values.get("verdict") is not None
    ]
    versions = {s.values["verdict"].judge_version for s in history if s.values.get("verdict") is not None}
    return len(judged), sorted(versions, key=lambda v: v or 0)


def test_rejudge_shrinks_the_queue_exactly_once_even_when_killed(review_settings: Settings, tmp_path: Path) -> None:
    texts = {s.claim_id: s.text for s in waiting_states(review_settings.workspace)}
    _decide_not_green(review_settings, 12)
    r3 = [{"id": f"r3-{c}", "text": t} for c, t in list(texts.items())[12:]]
    _run(review_settings, tmp_path, "r3", r3, 0.70)
    first = _states(review_settings, "r3")
    waiting = {c for c, (status, _) in first.items() if status == "pending_review"}
    audits = {c for c, (_, s) in first.items() if s.audit}
    assert waiting, "the run needs claims waiting for a person"

    async def lease_one() -> str:
        async with ReviewDesk(review_settings, "r3") as desk:
            taken = desk.take_next("bob")
            assert taken is not None
            return taken

    leased = asyncio.run(lease_one())

    cmd = [sys.executable, "-m", "claimcourt.cli.app", "learn", "--run-id", "r3", "--rejudge"]
    cmd += ["--workspace", str(review_settings.workspace)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMCOURT_")} | {"PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:  # killed as soon as the first claim is re-judged: the rest is left undone
        if line.startswith("re-judged "):
            break
    proc.send_signal(signal.SIGKILL)
    proc.communicate()

    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert "No decision changed since Judge v2" in rerun.stdout

    after = _states(review_settings, "r3")
    rejudged = waiting - audits - {leased}
    left = {c for c in rejudged if after[c][0] == "judge"}
    assert left, "the refitted Judge decides some waiting claims alone"
    for claim_id in rejudged:
        status, state = after[claim_id]
        assert state.verdict is not None and state.verdict.judge_version == 2 and state.verdict.rejudged
        assert (status == "judge") == (state.verdict.confidence >= 0.70 and not state.audit)
        branches, versions = asyncio.run(_children_of_before_judge(review_settings, "r3", claim_id))
        assert (branches, versions) == (2, [1, 2]), claim_id  # judged once by each version, both kept
    for claim_id in audits | {leased}:
        assert after[claim_id] == first[claim_id]
    shown = cli.invoke(
        app, ["trace", min(left), "--run-id", "r3", "--format", "md", "--workspace", str(review_settings.workspace)]
    )
    assert shown.exit_code == 0, shown.output
    assert "Given by Judge v2 (re-judged by learn)." in shown.stdout


def test_the_judge_refits_by_itself_every_n_decisions_when_asked(review_settings: Settings) -> None:
    every_two = review_settings.model_copy(
        update={"offline": review_settings.offline.model_copy(update={"learn_every": 2})}
    )
    _decide_not_green(every_two, 1)
    assert _judge_version(every_two) == 1
    _decide_not_green(every_two, 1)  # the run's second decision
    assert _judge_version(every_two) == 2
