"""The audit draw, routing with audits, and the settings a run resolves once and keeps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from claimcourt.config import Settings, load_settings
from claimcourt.errors import ConfigError
from claimcourt.eval.calibrations import save_calibration
from claimcourt.eval.guarantee import choose_threshold
from claimcourt.jobs.run_settings import resolve_run_settings
from claimcourt.nodes.human_review import review_reason
from claimcourt.nodes.routing import audit_draw, is_audited, route_with_audit
from claimcourt.state import ClaimState, Verdict
from claimcourt.store import LedgerRun


def test_the_audit_draw_takes_the_asked_share_and_depends_only_on_seed_and_claim() -> None:
    ids = [f"US{i:08d}" for i in range(20_000)]
    picked = {i for i in ids if is_audited(11, i, 0.05)}
    assert 0.045 <= len(picked) / len(ids) <= 0.055
    assert picked == {i for i in reversed(ids) if is_audited(11, i, 0.05)}  # order does not matter
    assert picked != {i for i in ids if is_audited(12, i, 0.05)}
    assert not any(is_audited(None, i, 0.05) or is_audited(11, i, 0.0) for i in ids[:100])
    draws = np.array([audit_draw(3, i) for i in ids])
    assert draws.min() >= 0.0 and draws.max() < 1.0 and abs(draws.mean() - 0.5) < 0.01


def test_only_claims_the_judge_would_decide_alone_become_audits() -> None:
    sure, unsure = Verdict.from_p_green(0.95), Verdict.from_p_green(0.6)
    unreadable = Verdict(confidence=0.0, readable=False, unreadable_reason="x")
    assert route_with_audit(sure, 0.7, audited=True) == ("human_review", True)
    assert route_with_audit(sure, 0.7, audited=False) == ("finalize", False)
    assert route_with_audit(unsure, 0.7, audited=True) == ("human_review", False)
    assert route_with_audit(unreadable, 0.7, audited=True) == ("human_review", False)


def test_an_audit_claim_tells_the_person_why_it_came() -> None:
    state = ClaimState(claim_id="c", text="t", verdict=Verdict.from_p_green(0.95), audit=True)
    assert review_reason(state, 0.7).startswith("audit: drawn at random")


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    return load_settings(overrides={"workspace": tmp_path / "ws", **overrides}, environ={})


def _save(tmp_path: Path, name: str, n: int) -> float:
    conf = np.linspace(0.99, 0.99 - n / 200, n)
    result = choose_threshold(conf, np.ones(n, dtype=bool), min_n=30)
    save_calibration(tmp_path / "ws", name, result, ["test"])
    assert result.threshold is not None
    return result.threshold


def _ledger_run(settings_json: str) -> LedgerRun:
    """A run as the ledger hands it back, with the settings it recorded."""
    return LedgerRun("r", "2026-01-01T00:00:00", None, "offline", 0.7, None, settings_json)


def test_a_new_run_gets_a_recorded_seed_and_a_resume_keeps_it(tmp_path: Path) -> None:
    fresh = resolve_run_settings(_settings(tmp_path, audit_rate=0.1), None)
    assert isinstance(fresh.audit_seed, int)
    run = _ledger_run(fresh.model_dump_json())
    assert resolve_run_settings(_settings(tmp_path, audit_rate=0.1), run).audit_seed == fresh.audit_seed
    assert resolve_run_settings(_settings(tmp_path, audit_seed=5), run).audit_seed == 5  # a given seed wins


def test_calibrated_thresholds_resolve_to_the_latest_or_the_named_one(tmp_path: Path) -> None:
    older = _save(tmp_path, "older", 40)
    newer = _save(tmp_path, "newer", 60)
    assert older != newer
    latest = resolve_run_settings(_settings(tmp_path, threshold="calibrated"), None)
    assert (latest.threshold, latest.calibration) == (newer, "newer")
    named = resolve_run_settings(_settings(tmp_path, threshold="calibrated:older"), None)
    assert (named.threshold, named.calibration) == (older, "older")
    # A run started on 'older' keeps it when resumed with 'calibrated', though 'newer' is the latest.
    resumed = resolve_run_settings(_settings(tmp_path, threshold="calibrated"), _ledger_run(named.model_dump_json()))
    assert (resumed.threshold, resumed.calibration) == (older, "older")
    assert json.loads(named.model_dump_json())["calibration"] == "older"


def test_an_unknown_or_empty_calibration_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="holds no calibration yet"):
        resolve_run_settings(_settings(tmp_path, threshold="calibrated"), None)
    _save(tmp_path, "some", 40)
    with pytest.raises(ConfigError, match="no such calibration"):
        resolve_run_settings(_settings(tmp_path, threshold="calibrated:other"), None)
    none = choose_threshold(np.linspace(0.9, 0.8, 10), np.ones(10, dtype=bool), min_n=30)
    save_calibration(tmp_path / "ws", "empty", none, ["test"])
    with pytest.raises(ConfigError, match="found no threshold"):
        resolve_run_settings(_settings(tmp_path, threshold="calibrated:empty"), None)
    with pytest.raises(ConfigError, match="threshold"):
        _settings(tmp_path, threshold="sometimes")
