"""A person's decision becomes a human precedent: the next debate retrieves it, the debaters cite it as
one, the trace shows whose it is, and it outranks the silver label of the same claim id."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.config import Settings
from claimcourt.deps import build_store
from claimcourt.jobs.index import index_file
from claimcourt.jobs.runner import Runner
from claimcourt.review.desk import ReviewDesk
from claimcourt.state import ClaimState, HumanDecision
from claimcourt.tables import ClaimTable
from tests.conftest import write_csv
from tests.review_support import RUN_ID, review_settings, review_ws, store_at, waiting_states

__all__ = ["review_settings", "review_ws"]


def _decide(settings: Settings, claim_id: str, label: int) -> None:
    async def go() -> None:
        async with ReviewDesk(settings, RUN_ID) as desk:
            await desk.decide(
                claim_id, HumanDecision(label=label, reviewer="ann", note="read it"), source="interactive"
            )

    asyncio.run(go())


def _undo(settings: Settings) -> None:
    async def go() -> None:
        async with ReviewDesk(settings, RUN_ID) as desk:
            await desk.undo_last("ann")

    asyncio.run(go())


def _stored_label(settings: Settings, claim_id: str) -> tuple[int, str]:
    meta, _, _ = build_store(settings).entries([claim_id])[claim_id]
    return int(meta["label"]), str(meta.get("source", "silver"))


def _debate_a_near_copy(settings: Settings, decided: ClaimState, tmp_path: Path, run_id: str) -> ClaimState:
    """A new claim that is the decided one with a sentence added: its closest precedent is the decision."""
    batch = write_csv(tmp_path / f"{run_id}.csv", [{"id": "near-copy", "text": decided.text + " The housing is grey."}])
    asyncio.run(Runner(settings).run(ClaimTable(batch), run_id=run_id))
    with store_at(settings.workspace) as store:
        claim = store.ledger.claim(run_id, "near-copy")
    assert claim is not None
    state = claim.state()
    assert state is not None
    return state


def test_a_decision_is_the_next_debates_human_precedent_and_outranks_silver(
    review_settings: Settings, tmp_path: Path
) -> None:
    decided = waiting_states(review_settings.workspace)[0]
    label = 1 - int(decided.verdict.label or 0) if decided.verdict else 1
    _decide(review_settings, decided.claim_id, label)
    assert _stored_label(review_settings, decided.claim_id) == (label, "human")
    assert build_store(review_settings).human_precedent_ids() == [decided.claim_id]

    state = _debate_a_near_copy(review_settings, decided, tmp_path, "r2")
    top = state.neighbours[0]
    assert (top.id, top.label, top.source, top.reviewer, top.decided_in) == (
        decided.claim_id,
        label,
        "human",
        "ann",
        RUN_ID,
    )
    side = state.advocate if label == 1 else state.skeptic
    assert side is not None and decided.claim_id in side.cited
    assert f"{decided.claim_id} [human precedent, decided by ann in run {RUN_ID}]" in side.text

    trace = CliRunner().invoke(
        app, ["trace", "near-copy", "--run-id", "r2", "--format", "md", "--workspace", str(review_settings.workspace)]
    )
    assert trace.exit_code == 0, trace.output
    assert f"human precedent, decided by ann in run {RUN_ID}" in trace.stdout

    # The same claim id indexed from a silver file with the other label: the person's label stays.
    silver = write_csv(tmp_path / "silver.csv", [{"id": decided.claim_id, "text": decided.text, "label": 1 - label}])
    index_file(silver, review_settings)
    assert _stored_label(review_settings, decided.claim_id) == (label, "human")

    # Undone, the decision stops being a precedent and the silver label comes back.
    _undo(review_settings)
    assert _stored_label(review_settings, decided.claim_id) == (1 - label, "silver")
    assert build_store(review_settings).human_precedent_ids() == []
