"""Audit sampling through the real graph, checkpointer and ledger (a scripted Judge, real retrieval),
and the calibration sample it yields."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.config import Settings
from claimcourt.deps import Deps, build_search
from claimcourt.eval.calibration_set import from_runs
from claimcourt.jobs.run_settings import recorded_settings
from claimcourt.jobs.runner import Runner
from claimcourt.nodes.routing import is_audited
from claimcourt.review.desk import ReviewDesk
from claimcourt.review.export import export_gold
from claimcourt.state import ClaimState, HumanDecision
from claimcourt.store import open_store
from claimcourt.tables import ClaimTable
from tests.conftest import FakeBackend, read_csv

SEED = 7


def _run(settings: Settings, batch: Path, run_id: str, backend: FakeBackend, limit: int | None = None) -> None:
    deps = Deps(settings, build_search(settings), backend)
    asyncio.run(Runner(settings, deps=deps).run(ClaimTable(batch), run_id=run_id, limit=limit))


def _states(settings: Settings, run_id: str) -> list[ClaimState]:
    with open_store(settings) as store:
        ledger = store.ledger
        return [s for c in ledger.claims(run_id) if (s := c.state()) is not None]


def _recorded(settings: Settings, run_id: str) -> dict[str, object]:
    with open_store(settings) as store:
        ledger = store.ledger
        return recorded_settings(ledger.run(run_id))


def test_audits_are_the_seeded_draw_of_confident_claims(indexed_settings: Settings, silver_batch_csv: Path) -> None:
    ids = [r["id"] for r in read_csv(silver_batch_csv)]
    # Half the claims are confident (0.95), half are not (0.6): only confident ones can be audits.
    backend = FakeBackend({claim_id: 0.95 if i % 2 else 0.6 for i, claim_id in enumerate(ids)})
    settings = indexed_settings.model_copy(update={"audit_rate": 0.5, "audit_seed": SEED})
    _run(settings, silver_batch_csv, "a1", backend)
    states = {s.claim_id: s for s in _states(settings, "a1")}
    expected = {i for n, i in enumerate(ids) if n % 2 and is_audited(SEED, i, 0.5)}
    assert expected and len(expected) < 12  # the draw picks some confident claims, not all
    assert {i for i, s in states.items() if s.audit} == expected
    for claim_id in expected:
        assert states[claim_id].decided_by == "pending_review" and states[claim_id].route == "human_review"
    for n, claim_id in enumerate(ids):
        if n % 2 and claim_id not in expected:
            assert states[claim_id].decided_by == "judge"
        if not n % 2:
            assert not states[claim_id].audit and states[claim_id].decided_by == "pending_review"
    assert _recorded(settings, "a1")["audit_seed"] == SEED


def test_a_resumed_run_keeps_its_recorded_seed_and_audit_choices(
    indexed_settings: Settings, silver_batch_csv: Path
) -> None:
    settings = indexed_settings.model_copy(update={"audit_rate": 0.4})  # no seed given: one is drawn
    _run(settings, silver_batch_csv, "a2", FakeBackend(), limit=10)
    seed = _recorded(settings, "a2")["audit_seed"]
    assert isinstance(seed, int)
    _run(settings, silver_batch_csv, "a2", FakeBackend())  # resume: again no seed given
    states = _states(settings, "a2")
    assert len(states) == 24
    assert {s.claim_id for s in states if s.audit} == {s.claim_id for s in states if is_audited(seed, s.claim_id, 0.4)}
    assert _recorded(settings, "a2")["audit_seed"] == seed


def test_audit_claims_are_blind_by_default_and_exported_with_their_flag(
    indexed_settings: Settings, silver_batch_csv: Path, tmp_path: Path
) -> None:
    settings = indexed_settings.model_copy(update={"audit_rate": 0.5, "audit_seed": SEED})
    backend = FakeBackend({r["id"]: 0.6 for r in read_csv(silver_batch_csv)[:4]})  # 4 routed, 20 confident
    _run(settings, silver_batch_csv, "a3", backend)
    states = _states(settings, "a3")
    audit = next(s for s in states if s.audit)
    routed = next(s for s in states if s.decided_by == "pending_review" and not s.audit)

    async def decide() -> tuple[bool, bool, bool, bool]:
        deps = Deps(settings, build_search(settings), FakeBackend())
        async with ReviewDesk(settings, "a3", deps=deps) as desk:
            blind = (
                desk.blind_for(audit, requested=False),
                desk.blind_for(routed, requested=False),
                desk.blind_for(routed, requested=True),
            )
            await desk.decide(
                audit.claim_id, HumanDecision(label=0, reviewer="ann", verdict_shown=False), source="interactive"
            )
        revealing = settings.model_copy(update={"audit_blind": False})
        async with ReviewDesk(revealing, "a3", deps=deps) as desk:
            return (*blind, desk.blind_for(audit, requested=False))

    assert asyncio.run(decide()) == (True, False, True, False)
    with open_store(settings) as store:
        export_gold(store, "a3", tmp_path / "gold.csv", human_only=False)
    rows = {r["id"]: r for r in read_csv(tmp_path / "gold.csv")}
    assert rows[audit.claim_id]["audit"] == "true" and rows[audit.claim_id]["label"] == "0"  # the person's label
    assert rows[audit.claim_id]["decided_by"] == "human" and rows[audit.claim_id]["verdict_shown"] == "false"
    assert {r["audit"] for i, r in rows.items() if i != audit.claim_id} == {"false"}


def test_only_audit_claims_count_above_the_run_threshold(indexed_settings: Settings, silver_batch_csv: Path) -> None:
    ids = [r["id"] for r in read_csv(silver_batch_csv)]
    backend = FakeBackend({claim_id: 0.95 if i % 2 else 0.6 for i, claim_id in enumerate(ids)})
    settings = indexed_settings.model_copy(update={"audit_rate": 0.5, "audit_seed": SEED})
    _run(settings, silver_batch_csv, "a4", backend)
    waiting = [s for s in _states(settings, "a4") if s.decided_by == "pending_review"]

    async def decide_all() -> None:
        deps = Deps(settings, build_search(settings), FakeBackend())
        async with ReviewDesk(settings, "a4", deps=deps) as desk:
            for state in waiting:
                await desk.decide(
                    state.claim_id, HumanDecision(label=1, reviewer="ann", note="read the claim"), source="interactive"
                )

    asyncio.run(decide_all())
    with open_store(settings) as store:
        ledger = store.ledger
        found = from_runs(ledger, ["a4"])
    audits = [s for s in waiting if s.audit]
    drawn_routed = [s for s in waiting if not s.audit and is_audited(SEED, s.claim_id, 0.5)]
    assert found.audits == len(audits) > 0
    # Below the threshold, only the routed claims the same draw picked: one uniform sample of the run.
    assert found.routed == len(drawn_routed)
    assert found.routed_left_out == 12 - len(drawn_routed) > 0
    # Every calibration claim at or above the run's threshold is an audit claim.
    conf, _ = found.arrays()
    assert int((conf >= settings.threshold).sum()) == len(audits)
    # The command says the same, in one JSON object.
    got = CliRunner().invoke(app, ["calibrate", "--run-id", "a4", "--json", "--no-save", "-w", str(settings.workspace)])
    assert got.exit_code == 0, got.output
    payload = json.loads(got.output)
    assert (payload["audits"], payload["routed"]) == (found.audits, found.routed)
    assert payload["threshold"] is None and payload["n"] == found.n  # too few claims to vouch for any threshold
