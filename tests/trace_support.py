"""A workspace with real stored debates for the trace tests: real MiniLM, Chroma and SQLite
checkpoints. Built once per test module (it embeds 80 claims) by the modules' own fixtures.

- run `batch-a` (threshold 0.99, so every claim waits for a person) holds three claims: `reviewed` was
  then decided by a person through the real graph (`Command(resume=...)`), `waiting` still waits, and
  `shared` also sits in run `batch-b`, which makes its id ambiguous without --run-id.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langgraph.types import Command

from claimcourt.config import Settings, load_settings
from claimcourt.deps import build_deps
from claimcourt.graph.builder import build_graph
from claimcourt.jobs.index import index_file
from claimcourt.jobs.runner import Runner
from claimcourt.state import ClaimState, HumanDecision, thread_id
from claimcourt.store import open_checkpointer, open_store
from claimcourt.tables import ClaimTable
from tests.conftest import write_csv

DECISION = HumanDecision(label=0, reviewer="ann", note="storage, not generation", verdict_shown=False)


@dataclass(frozen=True)
class StoredDebates:
    settings: Settings
    reviewed: str
    waiting: str
    shared: str
    judge_label: int  # the Judge's label of `reviewed`, which the person overruled or confirmed


def decide(settings: Settings, run_id: str, claim_id: str, decision: HumanDecision) -> ClaimState:
    """What a review session does: resume the claim's thread with the decision, record it in the ledger."""

    async def resume() -> dict[str, Any]:
        async with open_checkpointer(settings) as saver:
            graph = build_graph(saver)
            config = {"configurable": {"thread_id": thread_id(run_id, claim_id)}}
            output: dict[str, Any] = await graph.ainvoke(
                Command(resume=decision.model_dump()), config, context=build_deps(settings)
            )
            return output

    state = ClaimState.model_validate({k: v for k, v in asyncio.run(resume()).items() if not k.startswith("__")})
    with open_store(settings) as store:
        store.ledger.record(run_id, state)
    return state


def build_stored_debates(root: Path, silver_rows: list[dict[str, str]]) -> StoredDebates:
    root.mkdir(parents=True, exist_ok=True)
    settings = load_settings(overrides={"workspace": root / "ws", "threshold": 0.99}, environ={})
    green = [r for r in silver_rows if r["label"] == "1"]
    other = [r for r in silver_rows if r["label"] == "0"]
    index_file(write_csv(root / "labelled.csv", green[:40] + other[:40]), settings)
    batch = [{"id": r["id"], "text": r["text"]} for r in (green[40], other[40], green[41])]
    batch_a = write_csv(root / "batch-a.csv", batch)
    batch_b = write_csv(root / "batch-b.csv", batch[2:])
    asyncio.run(Runner(settings).run(ClaimTable(batch_a), run_id="batch-a"))
    asyncio.run(Runner(settings).run(ClaimTable(batch_b), run_id="batch-b"))
    reviewed, waiting, shared = (row["id"] for row in batch)
    with open_store(settings) as store:
        statuses = store.ledger.statuses("batch-a", [reviewed, waiting, shared])
        judged = next(c for c in store.ledger.claims("batch-a") if c.claim_id == reviewed).state()
    assert set(statuses.values()) == {"pending_review"}, statuses
    assert judged is not None and judged.verdict is not None and judged.verdict.label is not None
    decide(settings, "batch-a", reviewed, DECISION)
    return StoredDebates(settings, reviewed, waiting, shared, judge_label=judged.verdict.label)
