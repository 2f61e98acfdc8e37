"""Replaying stored debates from the real checkpoint history, and `claimcourt runs`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.errors import RunStateError
from claimcourt.trace import json_schema
from claimcourt.trace.replay import replay
from tests.trace_support import DECISION, StoredDebates, build_stored_debates

cli = CliRunner()


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory, silver_rows: list[dict[str, str]]) -> StoredDebates:
    return build_stored_debates(tmp_path_factory.mktemp("stored"), silver_rows)


def invoke(stored: StoredDebates, *args: str) -> Any:
    return cli.invoke(app, [*args, "--workspace", str(stored.settings.workspace)])


def validate(steps: Any) -> None:
    validator = jsonschema.Draft202012Validator(json_schema(), format_checker=jsonschema.FormatChecker())
    validator.validate(steps)


def test_replay_of_a_reviewed_claim_gives_every_node_in_order_with_the_decision(stored: StoredDebates) -> None:
    trace = asyncio.run(replay(stored.settings, stored.reviewed))

    nodes = [step.node for step in trace.steps]
    assert nodes[0] == "retrieve"
    assert sorted(nodes[1:3]) == ["advocate", "skeptic"]
    assert nodes[3:] == ["judge", "human_review", "finalize"]
    retrieve, judge, review, finalize = trace.steps[0], trace.steps[3], trace.steps[4], trace.steps[5]
    assert retrieve.input["claim_id"] == stored.reviewed
    assert len(retrieve.output["neighbours"]) == stored.settings.top_k
    assert stored.reviewed not in {n["id"] for n in retrieve.output["neighbours"]}
    assert judge.output["route"] == "human_review"
    assert judge.input["threshold"] == pytest.approx(0.99)
    assert 0.0 <= judge.output["verdict"]["p_green"] <= 1.0
    assert review.output["status"] == "decided"
    decision = review.output["decision"]
    assert (decision["label"], decision["reviewer"], decision["note"]) == (0, "ann", DECISION.note)
    assert decision["verdict_shown"] is False
    assert review.input["threshold"] == pytest.approx(0.99)
    assert finalize.input == {"judge_label": stored.judge_label, "human_label": 0}
    assert finalize.output == {"final_label": 0, "decided_by": "human"}
    assert trace.status == "human"
    # Every step is timed: nodes by their own timing, the review by how long it waited for the person.
    assert all(step.started_at and step.duration_ms is not None and step.duration_ms >= 0 for step in trace.steps)
    assert [step.started_at for step in trace.steps] == sorted(step.started_at or "" for step in trace.steps)


def test_json_trace_is_only_json_and_matches_its_schema(stored: StoredDebates) -> None:
    result = invoke(stored, "trace", stored.reviewed, "--format", "json")

    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)  # stdout holds nothing but the JSON
    validate(steps)
    assert [s["node"] for s in steps][-2:] == ["human_review", "finalize"]
    assert steps[-2]["output"]["decision"]["reviewer"] == "ann"
    assert all(set(step) == {"node", "started_at", "duration_ms", "input", "output"} for step in steps)


def test_json_trace_of_a_claim_still_waiting_ends_at_the_review(stored: StoredDebates) -> None:
    result = invoke(stored, "trace", stored.waiting, "--format", "json")

    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)
    validate(steps)
    assert [s["node"] for s in steps][-2:] == ["judge", "human_review"]
    assert steps[-1]["output"] == {"status": "waiting", "decision": None}
    assert steps[-1]["duration_ms"] is None


def test_the_schema_rejects_steps_that_break_the_documented_keys(stored: StoredDebates) -> None:
    steps = json.loads(invoke(stored, "trace", stored.reviewed, "--format", "json").stdout)
    judge = next(s for s in steps if s["node"] == "judge")

    for broken in (
        [{k: v for k, v in steps[0].items() if k != "duration_ms"}],
        [{**judge, "output": {**judge["output"], "route": "maybe"}}],
        [{**steps[0], "node": "summarise"}],
    ):
        with pytest.raises(jsonschema.ValidationError):
            validate(broken)


def test_markdown_report_shows_the_debate_and_the_decision(stored: StoredDebates) -> None:
    result = invoke(stored, "trace", stored.reviewed, "--format", "md")

    assert result.exit_code == 0, result.output
    report = result.stdout
    assert report.startswith(f"# Debate on claim `{stored.reviewed}`")
    headings = [line for line in report.splitlines() if line.startswith("## ")]
    assert headings[0] == "## 1. retrieve"
    assert headings[3:] == ["## 4. judge", "## 5. human_review", "## 6. finalize"]
    assert "by ann" in report and DECISION.note in report
    assert "verdict shown: no (blind review)" in report
    assert "decided by a person" in report


def test_markdown_report_can_go_to_a_file(stored: StoredDebates, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "debate.md"
    result = invoke(stored, "trace", stored.reviewed, "--format", "md", "--output", str(out))

    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert out.read_text(encoding="utf-8").startswith("# Debate on claim")


def test_terminal_trace_shows_route_decision_and_outcome(stored: StoredDebates) -> None:
    result = invoke(stored, "trace", stored.reviewed)

    assert result.exit_code == 0, result.output
    out = result.stdout
    positions = [out.index(f"{n}. {node}") for n, node in enumerate(["retrieve"], 1)]
    positions += [out.index("4. judge"), out.index("5. human_review"), out.index("6. finalize")]
    assert positions == sorted(positions)
    assert "route: human_review (confidence" in out
    assert "by ann" in out
    assert "label 0 (not green), decided by a person" in out


def test_a_claim_in_several_runs_needs_a_run_id(stored: StoredDebates) -> None:
    result = invoke(stored, "trace", stored.shared, "--format", "json")

    assert result.exit_code == 2
    assert "batch-a" in result.stderr and "batch-b" in result.stderr and "--run-id" in result.stderr
    assert "Traceback" not in result.output

    chosen = invoke(stored, "trace", stored.shared, "--run-id", "batch-b", "--format", "json")
    assert chosen.exit_code == 0, chosen.output
    validate(json.loads(chosen.stdout))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-claim"], "unknown claim id 'no-such-claim'"),
        (["REVIEWED", "--run-id", "no-such-run"], "unknown run id 'no-such-run'"),
        (["WAITING", "--run-id", "batch-b"], "run 'batch-b' holds no claim"),
    ],
)
def test_unknown_ids_exit_2_with_a_clear_message(stored: StoredDebates, args: list[str], message: str) -> None:
    names = {"REVIEWED": stored.reviewed, "WAITING": stored.waiting}
    result = invoke(stored, "trace", *[names.get(a, a) for a in args])

    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_replay_in_a_workspace_without_runs_says_so(tmp_path: Path) -> None:
    result = cli.invoke(app, ["trace", "123", "--workspace", str(tmp_path / "empty")])

    assert result.exit_code == 2
    assert "no runs in workspace" in result.stderr
    assert not (tmp_path / "empty").exists()  # reading never creates a workspace


def test_replay_library_raises_a_user_error_for_ambiguity(stored: StoredDebates) -> None:
    with pytest.raises(RunStateError, match="choose one with --run-id"):
        asyncio.run(replay(stored.settings, stored.shared))


def test_runs_lists_each_run_with_where_its_claims_stand(stored: StoredDebates) -> None:
    result = invoke(stored, "runs", "--format", "json")

    assert result.exit_code == 0, result.output
    by_id = {run["run_id"]: run for run in json.loads(result.stdout)}
    assert by_id["batch-a"]["claims"] == 3
    batch_a = by_id["batch-a"]
    assert (batch_a["decided_by_judge"], batch_a["waiting"], batch_a["decided_by_human"]) == (0, 2, 1)
    assert by_id["batch-b"]["claims"] == 1 and by_id["batch-b"]["waiting"] == 1

    table = invoke(stored, "runs")
    assert table.exit_code == 0, table.output
    row = next(line for line in table.stdout.splitlines() if line.strip().startswith("batch-a"))
    assert row.split()[-4:] == ["3", "0", "2", "1"]


def test_runs_in_an_empty_workspace(tmp_path: Path) -> None:
    result = cli.invoke(app, ["runs", "--workspace", str(tmp_path / "nothing")])

    assert result.exit_code == 0, result.output
    assert "No runs" in result.stdout
