"""The claims `calibrate` learns from: the Judge's confidence and whether a person agreed with it.

From a results file and a gold file every claim with a readable verdict counts: gold labels cover the
whole file, whatever the Judge's confidence.

From the human decisions of runs, selection bias must be handled: people only see the claims below the
run's threshold (routed) and the audit claims above it. All routed claims together over-represent the
band just below the threshold, so they are not all used. What is used is the audit draw itself
(`nodes.routing.audit_draw`): above the run's threshold, the audit claims; below it, the routed claims
whose draw would have made them audit claims had the Judge been sure. Together they are the claims whose
draw fell below the audit rate, on both sides of the threshold: one uniform random sample of the run,
independent of the confidence, which is what the exact binomial bound needs. Only audit claims count
above the run's threshold; a claim whose verdict could not be read is never decided alone, so it never
counts.

Once `claimcourt learn` has fitted the offline Judge on people's decisions, the guarantee is about that
Judge version, and the decisions it was fitted on cannot vouch for it (it has seen their labels). So a
run judged by the offline profile counts only claims whose verdict came from the current version and
whose claim id is not among the decisions that version was fitted on: the sample starts again with each
new version, and grows as the claims it judged (audits, re-judged claims) are decided. Before any
`learn`, every version is fitted on silver only and nothing is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from claimcourt.config import Settings
from claimcourt.errors import RunStateError
from claimcourt.eval.data import EvalSet
from claimcourt.models.offline.version import JudgeRecord
from claimcourt.nodes.routing import is_audited
from claimcourt.state import ClaimState
from claimcourt.store import Ledger, LedgerRun
from claimcourt.vocab import SENT_TO_A_PERSON, ClaimStatus


@dataclass
class CalibrationSet:
    confidence: list[float] = field(default_factory=list)
    agrees: list[bool] = field(default_factory=list)
    audits: int = 0  # decided audit claims used
    routed: int = 0  # routed claims used (their audit draw picked them)
    routed_left_out: int = 0  # decided routed claims the draw did not pick
    waiting: int = 0  # claims of the sample still waiting for a person
    other_version: int = 0  # decided claims of the sample judged by another Judge version
    fitted_on: int = 0  # decided claims of the sample that the current version was fitted on
    shown: int = 0  # decisions of the sample made with the Judge's verdict on screen
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, confidence: float, agrees: bool) -> None:
        self.confidence.append(confidence)
        self.agrees.append(agrees)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(self.confidence, dtype=np.float64), np.asarray(self.agrees, dtype=bool)

    @property
    def n(self) -> int:
        return len(self.confidence)


def in_sample(state: ClaimState, *, seed: int | None, rate: float) -> bool:
    """Whether a claim a person saw belongs to the uniform calibration sample of its run."""
    verdict = state.verdict
    if verdict is None or not verdict.readable or verdict.label is None:
        return False
    return state.audit or is_audited(seed, state.claim_id, rate)


def _audit_settings(run: LedgerRun) -> tuple[int | None, float]:
    settings = run.recorded_settings()
    seed = settings.get("audit_seed")
    return (int(seed) if seed is not None else None), float(settings.get("audit_rate") or 0.0)


def _left_out(state: ClaimState, judge: JudgeRecord | None, found: CalibrationSet) -> bool:
    """Whether the current Judge version cannot be calibrated on this decided claim (counted in `found`)."""
    if judge is None or judge.n_human == 0:
        return False
    assert state.verdict is not None
    if state.verdict.judge_version != judge.version:
        found.other_version += 1
        return True
    if state.claim_id in judge.human_ids:
        found.fitted_on += 1
        return True
    return False


def from_runs(ledger: Ledger, run_ids: Sequence[str], judge: JudgeRecord | None = None) -> CalibrationSet:
    """`judge`: the offline Judge's current version, for the runs the offline profile judged."""
    found = CalibrationSet(sources=[f"run {r}" for r in run_ids])
    for run_id in run_ids:
        run = ledger.run(run_id)
        seed, rate = _audit_settings(run)
        current = judge if run.profile in (None, "offline") else None
        if rate <= 0 or seed is None:
            found.notes.append(f"run '{run_id}' audited no claims (audit rate 0): only routed claims, none usable")
        for claim in ledger.claims(run_id):
            state = claim.state()
            if state is None or claim.status not in SENT_TO_A_PERSON:
                continue
            if not in_sample(state, seed=seed, rate=rate):
                found.routed_left_out += claim.status == ClaimStatus.HUMAN
                continue
            if claim.status == ClaimStatus.PENDING_REVIEW or state.human is None:
                found.waiting += 1
                continue
            assert state.verdict is not None
            if _left_out(state, current, found):
                continue
            found.add(state.verdict.confidence, state.verdict.label == state.human.label)
            found.audits += state.audit
            found.routed += not state.audit
            found.shown += state.human.verdict_shown
    if found.waiting:
        found.notes.append(
            f"{found.waiting} claims of the audit sample still wait for a person: decide them first, since "
            "the ones left undecided may not be a random part"
        )
    if found.other_version or found.fitted_on:
        assert judge is not None
        found.notes.append(
            f"Judge v{judge.version} is calibrated only on claims it judged and was not fitted on: left out "
            f"{found.other_version} decided claims judged by another version and {found.fitted_on} it was "
            "fitted on (see README, Learning from the people)"
        )
    if found.shown:
        found.notes.append(
            f"{found.shown} of these decisions were made with the Judge's verdict shown: people drift toward "
            "the suggestion they saw, which flatters the agreement (audit claims are blind by default)"
        )
    return found


def current_judge(settings: Settings) -> JudgeRecord | None:
    """The offline Judge's current version, where the workspace has one."""
    from claimcourt.deps import build_store
    from claimcourt.models.offline.payload import current_record
    from claimcourt.workspace import WorkspacePaths

    path = WorkspacePaths(settings.workspace).offline_judge(settings.retrieval.collection)
    return current_record(build_store(settings), path)


def from_gold(es: EvalSet) -> CalibrationSet:
    found = CalibrationSet(sources=[f"{es.results_path} against {es.gold_path}"])
    usable = es.finished & es.has_label & ~np.isnan(es.confidence)
    for conf, judge, gold in zip(es.confidence[usable], es.judge_label[usable], es.gold[usable], strict=True):
        found.add(float(conf), bool(judge == gold))
    return found


def require_claims(found: CalibrationSet) -> None:
    if found.n == 0:
        raise RunStateError(
            "no calibration claims: nothing a person decided is in the audit sample; run with "
            "--audit-rate (e.g. 0.05) and review the audit claims, or give --results with --gold"
        )
