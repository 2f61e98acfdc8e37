"""Live traces: one claim through the real graph and checkpointer now, each node's update streamed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.config import Settings, load_settings
from claimcourt.deps import Deps, build_search
from claimcourt.errors import RunStateError
from claimcourt.jobs.index import index_file
from claimcourt.jobs.live import LiveTrace
from claimcourt.state import Argument, ClaimState, HumanDecision, ReviewRequest, Role, Verdict
from claimcourt.trace import json_schema
from claimcourt.trace.render import step_panel
from claimcourt.trace.replay import replay
from claimcourt.trace.steps import TraceStep
from tests.conftest import FakeBackend, write_csv

cli = CliRunner()
CLAIM = "A wind turbine blade with a lightweight composite spar that increases the energy captured from the wind."


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, silver_rows: list[dict[str, str]]) -> Settings:
    root = tmp_path_factory.mktemp("live")
    settings = load_settings(overrides={"workspace": root / "ws"}, environ={})
    green = [r for r in silver_rows if r["label"] == "1"][:12]
    other = [r for r in silver_rows if r["label"] == "0"][:12]
    index_file(write_csv(root / "labelled.csv", green + other), settings)
    return settings


class RecordingBackend(FakeBackend):
    """Writes each model call into the shared event log, with a prompt as an LLM backend would."""

    def __init__(self, events: list[tuple[str, str]], p_green: float = 0.6) -> None:
        super().__init__(default=p_green)
        self.events = events

    async def argue(self, role: Role, state: ClaimState) -> Argument:
        self.events.append(("call", role))
        argument = await super().argue(role, state)
        return argument.model_copy(update={"prompt": f"PROMPT FOR THE {role.upper()}: {state.text}"})

    async def judge(self, state: ClaimState) -> Verdict:
        self.events.append(("call", "judge"))
        return await super().judge(state)


def live_deps(settings: Settings, backend: FakeBackend) -> Deps:
    return Deps(settings=settings, search=build_search(settings), backend=backend)


def test_each_update_arrives_before_the_next_node_runs(indexed: Settings) -> None:
    settings = indexed.model_copy(update={"threshold": 0.99})
    events: list[tuple[str, str]] = []

    def on_step(step: TraceStep) -> None:
        events.append(("step", step.node))

    def decide(request: ReviewRequest, state: ClaimState) -> HumanDecision:
        events.append(("decide", request.reason))
        return HumanDecision(label=1, reviewer="bob", note="wind energy")

    live = LiveTrace(
        settings, live_deps(settings, RecordingBackend(events)), claim_id="c1", text=CLAIM, run_id="live-1"
    )
    trace = asyncio.run(live.run(on_step=on_step, decide=decide))

    def at(kind: str, name: str) -> int:
        return next(i for i, event in enumerate(events) if event[0] == kind and event[1].startswith(name))

    assert at("step", "retrieve") < min(at("call", "advocate"), at("call", "skeptic"))
    assert max(at("step", "advocate"), at("step", "skeptic")) < at("call", "judge")
    assert at("step", "judge") < at("decide", "the Judge's confidence") < at("step", "human_review")
    assert at("step", "human_review") < at("step", "finalize")
    assert [s.node for s in trace.steps][-3:] == ["judge", "human_review", "finalize"]
    assert trace.state.final_label == 1 and trace.state.decided_by == "human"
    assert trace.steps[1].input["prompt"].startswith("PROMPT FOR THE")

    # The live debate went through the checkpointer and the ledger: it replays the same way.
    replayed = asyncio.run(replay(settings, "c1"))
    assert [s.node for s in replayed.steps] == [s.node for s in trace.steps]
    assert replayed.steps[-2].output["decision"]["reviewer"] == "bob"
    assert replayed.status == "human"


def test_a_review_left_undecided_stays_waiting(indexed: Settings) -> None:
    settings = indexed.model_copy(update={"threshold": 0.99})
    steps: list[TraceStep] = []
    live = LiveTrace(
        settings, live_deps(settings, FakeBackend(default=0.6)), claim_id="c2", text=CLAIM, run_id="live-2"
    )

    trace = asyncio.run(live.run(on_step=steps.append, decide=lambda request, state: None))

    assert steps[-1].node == "human_review"
    assert steps[-1].output == {"status": "waiting", "decision": None}
    assert trace.state.decided_by == "pending_review"
    replayed = asyncio.run(replay(settings, "c2"))
    assert replayed.status == "pending_review"
    assert replayed.steps[-1].output["status"] == "waiting"


def test_a_live_trace_does_not_overwrite_a_claim_already_in_the_run(indexed: Settings) -> None:
    deps = live_deps(indexed, FakeBackend())
    asyncio.run(
        LiveTrace(indexed, deps, claim_id="c3", text=CLAIM, run_id="live-3").run(
            on_step=lambda step: None, decide=lambda request, state: None
        )
    )
    again = LiveTrace(indexed, deps, claim_id="c3", text=CLAIM, run_id="live-3")
    with pytest.raises(RunStateError, match="already holds claim 'c3'"):
        asyncio.run(again.run(on_step=lambda step: None, decide=lambda request, state: None))


def test_prompts_are_folded_unless_asked_for(indexed: Settings) -> None:
    from rich.console import Console

    events: list[tuple[str, str]] = []
    steps: list[TraceStep] = []
    live = LiveTrace(indexed, live_deps(indexed, RecordingBackend(events, p_green=0.95)), claim_id="c4", text=CLAIM)
    asyncio.run(live.run(on_step=steps.append, decide=lambda request, state: None))
    advocate = next(s for s in steps if s.node == "advocate")

    def shown(show_prompts: bool) -> str:
        console = Console(record=True, width=200)
        console.print(step_panel(advocate, 2, show_prompts=show_prompts))
        return console.export_text()

    assert "PROMPT FOR THE ADVOCATE" not in shown(False)
    assert "--show-prompts to unfold" in shown(False)
    assert "PROMPT FOR THE ADVOCATE" in shown(True)


def invoke(settings: Settings, *args: str, input: str | None = None) -> Any:
    return cli.invoke(app, [*args, "--workspace", str(settings.workspace)], input=input)


def test_trace_text_streams_a_fresh_debate_in_the_terminal(indexed: Settings) -> None:
    # Threshold 0.5: the Judge's confidence is never below it, so the Judge decides.
    result = invoke(indexed, "trace", "--text", CLAIM, "--threshold", "0.5")

    assert result.exit_code == 0, result.output
    out = result.stdout
    positions = [out.index(marker) for marker in ("1. retrieve", "4. judge", "5. finalize", "decided by the Judge")]
    assert positions == sorted(positions)
    assert "Replay it with: claimcourt trace text-" in out
    runs = json.loads(invoke(indexed, "runs", "--format", "json").stdout)
    assert any(run["run_id"].startswith("trace-") and run["decided_by_judge"] == 1 for run in runs)


def test_trace_text_asks_for_the_decision_inline_and_prints_only_json(indexed: Settings) -> None:
    result = invoke(
        indexed,
        "trace",
        "--text",
        CLAIM + " (inline)",
        "--threshold",
        "0.999",
        "--reviewer",
        "cleo",
        "--format",
        "json",
        input="maybe\n0\nonly a blade shape\n",
    )

    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)
    jsonschema.Draft202012Validator(json_schema(), format_checker=jsonschema.FormatChecker()).validate(steps)
    decision = steps[-2]["output"]["decision"]
    assert (decision["label"], decision["reviewer"], decision["note"]) == (0, "cleo", "only a blade shape")
    assert steps[-1]["output"] == {"final_label": 0, "decided_by": "human"}
    assert "'maybe' is not 0 or 1" in result.stderr


def test_step_pauses_after_each_node(indexed: Settings) -> None:
    result = invoke(indexed, "trace", "--text", CLAIM + " (step)", "--threshold", "0.5", "--step", input="\n" * 10)

    assert result.exit_code == 0, result.output
    # retrieve, advocate, skeptic, judge: a pause after each; finalize ends the debate.
    assert result.stdout.count("Enter for the next step") == 4


def test_trace_from_a_file_by_id(indexed: Settings, tmp_path: Path) -> None:
    claims = write_csv(tmp_path / "claims.csv", [{"id": "F-1", "text": CLAIM}, {"id": "F-2", "text": "A shoe."}])

    result = invoke(indexed, "trace", "--id", "F-2", "--from", str(claims), "--format", "md", "--threshold", "0.5")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# Debate on claim `F-2`")
    assert "> A shoe." in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--text", ""], "--text is empty"),
        (["--text", "   "], "--text is empty"),
        ([], "give a CLAIM_ID to replay"),
        (["123", "--text", "a claim"], "not both"),
        (["--from", "claims.csv"], "--from needs --id"),
        (["--id", "nope", "--from", "claims.csv"], "no claim with id 'nope'"),
        (["--id", "x", "--from", "missing.csv"], "missing.csv: file not found"),
        (["123", "--format", "rich", "--output", "x.md"], "--output needs --format json or md"),
    ],
)
def test_bad_live_input_exits_2(indexed: Settings, args: list[str], message: str) -> None:
    write_csv(Path("claims.csv"), [{"id": "F-1", "text": CLAIM}])

    result = invoke(indexed, "trace", *args)

    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output


class FailingJudge(FakeBackend):
    async def judge(self, state: ClaimState) -> Verdict:
        raise RuntimeError("model fell over")


def test_a_failed_debate_replays_up_to_the_node_that_failed(indexed: Settings, tmp_path: Path) -> None:
    from claimcourt.jobs.runner import Runner
    from claimcourt.tables import ClaimTable

    batch = write_csv(tmp_path / "one.csv", [{"id": "E-1", "text": CLAIM}])
    asyncio.run(Runner(indexed, deps=live_deps(indexed, FailingJudge())).run(ClaimTable(batch), run_id="failing"))

    result = invoke(indexed, "trace", "E-1", "--format", "json")

    assert result.exit_code == 0, result.output
    steps = json.loads(result.stdout)
    jsonschema.Draft202012Validator(json_schema()).validate(steps)
    assert [s["node"] for s in steps][-1] == "judge"
    assert "model fell over" in steps[-1]["output"]["error"]
    assert "failed: RuntimeError: model fell over" in invoke(indexed, "trace", "E-1").stdout


class ChattyBackend(FakeBackend):
    """Argues through a (fake) LangChain chat model, as an LLM backend would: its tokens stream."""

    async def argue(self, role: Role, state: ClaimState) -> Argument:
        from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage

        model = GenericFakeChatModel(messages=iter([AIMessage(content=f"the {role} speaks at length")]))
        reply = await model.ainvoke(f"argue as the {role}")
        return Argument(role=role, text=str(reply.content), backend="chatty")


def test_llm_tokens_stream_before_their_node_update(indexed: Settings) -> None:
    events: list[tuple[str, str]] = []
    live = LiveTrace(indexed, live_deps(indexed, ChattyBackend()), claim_id="c5", text=CLAIM)

    asyncio.run(
        live.run(
            on_step=lambda step: events.append(("step", step.node)),
            decide=lambda request, state: None,
            on_token=lambda node, token: events.append(("token", node + ":" + token)),
        )
    )

    advocate_tokens = "".join(e[1].removeprefix("advocate:") for e in events if e[1].startswith("advocate:"))
    assert advocate_tokens == "the advocate speaks at length"
    last_token = max(i for i, e in enumerate(events) if e[1].startswith("advocate:"))
    assert last_token < events.index(("step", "advocate"))
