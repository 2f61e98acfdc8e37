"""`claimcourt learn`: the court learns from its people.

Every final human decision of the workspace becomes a human precedent (the desk already made most of
them; this also covers decisions recorded where no desk stands, and a process killed in between), then
the offline Judge is refitted on silver plus those decisions (`models.offline.refit`) as the next Judge
version. With `--run-id RUN --rejudge`, the run's waiting claims are judged again by it
(`jobs.rejudge`). Run again with no new decision, it keeps the version it made and only finishes
what a killed re-judging left undone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from claimcourt.config import Settings
from claimcourt.deps import build_search
from claimcourt.errors import InputError, RunStateError
from claimcourt.jobs.rejudge import RejudgeReport, rejudge_waiting
from claimcourt.models.offline.payload import current_record
from claimcourt.models.offline.refit import fit_judge
from claimcourt.models.offline.version import JudgeRecord, decisions_digest
from claimcourt.review.learning import sync_all
from claimcourt.state import ClaimState
from claimcourt.store import existing_store
from claimcourt.workspace import WorkspacePaths


@dataclass(frozen=True)
class LearnReport:
    record: JudgeRecord
    refitted: bool  # False: no decision changed since this version was fitted
    where: str
    rejudged: RejudgeReport | None = None


def refit(settings: Settings, run_id: str | None = None) -> tuple[JudgeRecord, bool, str]:
    """Precedents in line with the people's decisions, then the next Judge version if they changed."""
    state_store = existing_store(settings)
    if state_store is None:
        raise RunStateError(f"workspace {settings.workspace} has no runs: no human decisions to learn from")
    with state_store:
        if run_id is not None:  # an unknown run, or one another Judge judged, stops here, before any fit
            profile = state_store.ledger.run(run_id).profile
            if profile not in (None, "offline"):
                raise InputError(f"run '{run_id}' was judged by the '{profile}' profile, not the offline Judge")
        search = build_search(settings)
        search.store.require_nonempty()
        labels = sync_all(state_store, search)
    if not labels:
        raise RunStateError(
            f"workspace {settings.workspace} has no human decisions to learn from: decide some waiting claims "
            "first (claimcourt review)"
        )
    path = WorkspacePaths(settings.workspace).offline_judge(settings.retrieval.collection)
    previous = current_record(search.store, path)
    digest = decisions_digest((d.claim_id, d.label) for d in labels)
    if (
        previous is not None
        and previous.decisions_digest == digest
        and previous.human_weight == settings.offline.human_weight
    ):
        return previous, False, str(path) if not search.store.is_server else search.store.where
    fitted = fit_judge(settings, search.store, by="learn")
    return fitted.record, True, fitted.where


async def learn(
    settings: Settings,
    *,
    run_id: str | None = None,
    rejudge: bool = False,
    on_claim: Callable[[str, ClaimState], None] | None = None,
) -> LearnReport:
    from claimcourt.review.desk import ReviewDesk

    if settings.profile != "offline":
        raise InputError(f"learn refits the offline Judge; the '{settings.profile}' profile's Judge is a model")
    if rejudge and run_id is None:
        raise InputError("--rejudge needs --run-id RUN: the run whose waiting claims are judged again")
    record, refitted, where = refit(settings, run_id)
    if not rejudge or run_id is None:
        return LearnReport(record, refitted, where)
    async with ReviewDesk(settings, run_id) as desk:
        report = await rejudge_waiting(desk, record.version, on_claim=on_claim)
    return LearnReport(record, refitted, where, report)
