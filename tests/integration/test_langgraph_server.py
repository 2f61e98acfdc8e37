"""The debate served by `langgraph dev` (the repository's langgraph.json), driven through `langgraph_sdk`
as a LangGraph user would: the offline profile, a real indexed workspace, the server's own checkpointer."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from claimcourt.config import Settings
from claimcourt.prompts import roles
from claimcourt.store import open_store
from claimcourt.trace.fork import FORK_OF, ForkEdit, fork_served_thread
from tests.chroma_support import services_required
from tests.conftest import read_csv
from tests.langgraph_support import ROOT, langgraph_dev, langgraph_executable

pytestmark = pytest.mark.slow

RUN_ID = "served"
# Below this nearly every claim goes to a person; a claim the Judge is all but certain of still does not.
STRICT = 0.95
# The offline Judge is deterministic for one input; the claim's embedding may be computed in another batch
# (padding), which moves float32 vectors by ~1e-6 and p_green by far less than this.
SAME_VERDICT = 1e-4


def _langgraph() -> str:
    executable = langgraph_executable()
    if executable is None:
        if services_required():
            pytest.fail("the langgraph extra is not installed (langgraph-cli[inmem])")
        pytest.skip("the langgraph extra is not installed")
    return executable


def test_langgraph_validate_passes() -> None:
    executable = _langgraph()
    done = subprocess.run([executable, "validate"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is valid" in done.stdout and "3 graphs" in done.stdout, done.stdout


@pytest.fixture
def served(indexed_settings: Settings, tmp_path: Path) -> Iterator[str]:
    _langgraph()
    folder = tmp_path / "server"
    folder.mkdir()
    try:
        with langgraph_dev(folder, {"CLAIMCOURT_WORKSPACE": str(indexed_settings.workspace)}) as url:
            yield url
    except RuntimeError as exc:
        if services_required():
            pytest.fail(f"langgraph dev cannot start: {exc}")
        pytest.skip(f"langgraph dev cannot start: {exc}")


def _claim(row: dict[str, str]) -> dict[str, str]:
    return {"claim_id": row["id"], "text": row["text"], "run_id": RUN_ID}


def _payload(thread: dict[str, Any]) -> dict[str, Any]:
    (pending,) = thread["interrupts"].values()
    return pending[0]["value"]


def test_served_debate_interrupt_review_fork_and_stream(
    served: str, indexed_settings: Settings, silver_batch_csv: Path
) -> None:
    from langgraph_sdk import get_client
    from langgraph_sdk.schema import Command

    rows = read_csv(silver_batch_csv)

    async def scenario() -> None:
        client = get_client(url=served)
        # The profiles are the graphs' assistants; the offline one's prompts are editable on their nodes.
        by_graph = {a["graph_id"]: a["assistant_id"] for a in await client.assistants.search()}
        assert set(by_graph) == {"claimcourt", "claimcourt_hf", "claimcourt_endpoint"}
        schema = (await client.assistants.get_schemas(by_graph["claimcourt"]))["context_schema"]["properties"]
        assert schema["advocate_prompt"]["default"] == roles.OFFLINE.advocate
        assert (schema["skeptic_prompt"]["langgraph_nodes"], schema["skeptic_prompt"]["langgraph_type"]) == (
            ["skeptic"],
            "prompt",
        )
        hf_schema = (await client.assistants.get_schemas(by_graph["claimcourt_hf"]))["context_schema"]["properties"]
        assert hf_schema["judge_prompt"]["langgraph_nodes"] == ["judge"]
        strict = await client.assistants.create("claimcourt", context={"threshold": STRICT, "run_id": RUN_ID})
        assistant = strict["assistant_id"]

        # One claim streamed node by node to `finalize`: the Judge is sure of it.
        sure = await client.threads.create()
        nodes = []
        async for part in client.runs.stream(
            sure["thread_id"], assistant, input=_claim(rows[2]), stream_mode="updates"
        ):
            if part.event == "updates":
                nodes.extend(part.data)
        assert nodes[0] == "retrieve" and set(nodes[1:3]) == {"advocate", "skeptic"}, nodes
        assert nodes[3:] == ["judge", "finalize"], nodes
        done = await client.threads.get_state(sure["thread_id"])
        assert done["values"]["decided_by"] == "judge" and done["next"] == []

        # One claim to the human interrupt: the payload is what a reviewer needs.
        unsure = (await client.threads.create())["thread_id"]
        await client.runs.wait(unsure, assistant, input=_claim(rows[0]))
        waiting = await client.threads.search(status="interrupted")
        assert [t["thread_id"] for t in waiting] == [unsure]
        payload = _payload(waiting[0])
        assert payload["text"] == rows[0]["text"] and payload["neighbours"]
        assert payload["advocate"]["role"] == "advocate" and payload["skeptic"]["role"] == "skeptic"
        assert payload["verdict_hidden"] is False and payload["verdict"]["label"] in (0, 1)
        judge_label = payload["verdict"]["label"]

        # Resumes go through the review policy: no reviewer, then overruling a shown Judge without a note,
        # are refused and the claim keeps waiting, saying why.
        await client.runs.wait(unsure, assistant, command=Command(resume={"label": judge_label}))
        assert "reviewer" in _payload(await client.threads.get(unsure))["refused"]
        overrule = {"label": 1 - judge_label, "reviewer": "ann"}
        await client.runs.wait(unsure, assistant, command=Command(resume=overrule))
        still = await client.threads.get(unsure)
        assert still["status"] == "interrupted" and "note" in _payload(still)["refused"]
        decided = await client.runs.wait(
            unsure, assistant, command=Command(resume={**overrule, "note": "the precedents are about batteries"})
        )
        assert (decided["decided_by"], decided["final_label"]) == ("human", 1 - judge_label)

        with open_store(indexed_settings) as store:
            (review,) = store.reviews.active(run_id=RUN_ID, claim_id=rows[0]["id"])
        assert (review.reviewer, review.label, review.source, review.verdict_shown) == (
            "ann",
            1 - judge_label,
            "server",
            True,
        )
        assert review.note == "the precedents are about batteries" and review.judge_label == judge_label

        # Time travel: fork before the Judge without the precedents on the Judge's side, and again unedited.
        original = await client.threads.get_state(unsure)
        side = [n["id"] for n in original["values"]["neighbours"] if n["label"] == judge_label][:3]
        forks = {}
        for name, edit in (("edited", ForkEdit(drop_neighbours=tuple(side))), ("unedited", ForkEdit())):
            origin = await fork_served_thread(client, unsure, at="judge", edit=edit)
            await client.runs.wait(origin.thread_id, assistant)
            forks[name] = (origin, await client.threads.get_state(origin.thread_id))
        p_original = original["values"]["verdict"]["p_green"]
        edited_origin, edited = forks["edited"]
        assert abs(edited["values"]["verdict"]["p_green"] - p_original) > 10 * SAME_VERDICT
        assert not set(side) & {n["id"] for n in edited["values"]["neighbours"]}
        assert abs(forks["unedited"][1]["values"]["verdict"]["p_green"] - p_original) < SAME_VERDICT
        # The fork is a thread of its own whose origin is recorded; the claim's thread is as it was.
        found = await client.threads.search(metadata={FORK_OF: unsure})
        assert {t["thread_id"] for t in found} == {origin.thread_id for origin, _ in forks.values()}
        assert (await client.threads.get(edited_origin.thread_id))["metadata"][FORK_OF] == unsure
        assert (await client.threads.get_state(unsure))["values"]["decided_by"] == "human"

        # Blind review: the payload holds no verdict (nor its confidence); accepting the Judge is refused.
        blind = await client.assistants.create(
            "claimcourt", context={"threshold": STRICT, "run_id": RUN_ID, "blind": True}
        )
        hidden = (await client.threads.create())["thread_id"]
        await client.runs.wait(hidden, blind["assistant_id"], input=_claim(rows[1]))
        payload = _payload(await client.threads.get(hidden))
        assert (payload["verdict_hidden"], payload["verdict"], payload["confidence"]) == (True, None, None)
        await client.runs.wait(
            hidden, blind["assistant_id"], command=Command(resume={"reviewer": "bo", "choice": "accept"})
        )
        assert "blind" in _payload(await client.threads.get(hidden))["refused"]
        await client.runs.wait(hidden, blind["assistant_id"], command=Command(resume={"reviewer": "bo", "label": 1}))
        with open_store(indexed_settings) as store:
            (review,) = store.reviews.active(run_id=RUN_ID, claim_id=rows[1]["id"])
        assert (review.reviewer, review.verdict_shown, review.shown) == (
            "bo",
            False,
            ("claim", "neighbours", "advocate", "skeptic"),
        )

        # A prompt edited in the assistant's context is the one the Advocate's brief is written from; one the
        # profile cannot fill fails the run, saying which placeholder.
        edited = await client.assistants.create("claimcourt", context={"advocate_prompt": "FOR GREEN: {precedents}"})
        thread = (await client.threads.create())["thread_id"]
        argued = await client.runs.wait(thread, edited["assistant_id"], input=_claim(rows[3]))
        assert argued["advocate"]["text"].startswith("FOR GREEN: ")
        bad = await client.assistants.create("claimcourt", context={"skeptic_prompt": "NOT GREEN: {verdict}"})
        thread = (await client.threads.create())["thread_id"]
        failed = await client.runs.wait(thread, bad["assistant_id"], input=_claim(rows[3]), raise_error=False)
        assert "{verdict}" in failed["__error__"]["message"], failed

    asyncio.run(scenario())
