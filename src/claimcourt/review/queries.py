"""What every face of the review desk asks (the CLI, the terminal app, the web page): which run is meant,
the run's claims as a reviewer sees them, counts per reviewer, where a reviewer stopped.

Everything here reads the ledger and the reviews table through their public methods; nothing writes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from typing import Literal

from claimcourt.errors import RunStateError
from claimcourt.review.policy import verdict_hidden
from claimcourt.state import ClaimState
from claimcourt.store import Ledger, LedgerClaim, Review, ReviewStore, RunOverview
from claimcourt.vocab import ClaimStatus, Order  # defined where the review command's --order reads it cheaply

WAITING = ClaimStatus.PENDING_REVIEW
# Who a claim of the run belongs to, as a reviewer sees it.
Standing = Literal["waiting", "mine", "others", "judge", "other"]
STANDINGS: tuple[Standing, ...] = ("waiting", "mine", "others", "judge", "other")
# The Judge's label as a filter: any, green (1) or not green (0).
LabelFilter = Literal["any", "green", "not green"]
LABEL_FILTERS: tuple[LabelFilter, ...] = ("any", "green", "not green")
# Confidence bands a filter can pick (lower bound inclusive, upper exclusive; the last includes 1.0).
BANDS: tuple[tuple[float, float], ...] = ((0.0, 0.6), (0.6, 0.7), (0.7, 0.8), (0.8, 0.9), (0.9, 1.0))


def choose_run(ledger: Ledger, run_id: str | None, *, status: ClaimStatus | None, what: str) -> str | None:
    """The given run (checked), else the only run with claims of `status` (None: any claims); None when
    no run has any."""
    if run_id is not None:
        ledger.run(run_id)
        return run_id

    def held(run: RunOverview) -> int:
        return run.counts.total if status is None else run.counts[status]

    runs = [r for r in ledger.runs() if held(r) > 0]
    if not runs:
        return None
    if len(runs) > 1:
        listed = ", ".join(f"{r.run_id} ({held(r)})" for r in runs)
        raise RunStateError(f"several runs have claims {what}: {listed}; choose one with --run-id")
    return runs[0].run_id


def run_summaries(ledger: Ledger, run_id: str | None = None) -> list[RunOverview]:
    """One row per run (counts per status), or only `run_id`'s (checked)."""
    if run_id is not None:
        ledger.run(run_id)
    return [r for r in ledger.runs() if run_id is None or r.run_id == run_id]


def confidence_key(state: ClaimState | None) -> float:
    """Lowest first: an unreadable verdict (a person must decide from scratch) comes before any other."""
    if state is None or state.verdict is None or not state.verdict.readable:
        return -1.0
    return state.verdict.confidence


def in_order(claims: Iterable[LedgerClaim], order: Order) -> list[LedgerClaim]:
    """The waiting order: lowest Judge confidence first (ties in input order), or input order."""
    listed = list(claims)
    if order == "confidence":
        listed.sort(key=lambda c: (confidence_key(c.state()), c.seq))
    return listed


def waiting_in_order(ledger: Ledger, run_id: str, order: Order = "confidence") -> list[LedgerClaim]:
    return in_order(ledger.claims(run_id, status=WAITING), order)


def reviewer_counts(store: ReviewStore, run_id: str) -> dict[str, int]:
    """Active decisions per reviewer over the whole run (every session)."""
    return dict(Counter(r.reviewer for r in store.active(run_id=run_id)))


@dataclass(frozen=True)
class ClaimRow:
    """One claim of a run, as the list of claims shows it."""

    claim_id: str
    seq: int
    standing: Standing
    text: str
    judge_label: int | None
    judge_confidence: float | None
    # The active decisions on it, first one first.
    reviews: tuple[Review, ...]
    audit: bool = False
    # The Judge's verdict and others' labels are withheld from this person (`seen_by`).
    hidden: bool = False

    def mine(self, reviewer: str) -> Review | None:
        return next((r for r in reversed(self.reviews) if r.reviewer == reviewer), None)

    def others(self, reviewer: str) -> tuple[Review, ...]:
        return tuple(r for r in self.reviews if r.reviewer != reviewer)

    def matches(self, label: LabelFilter, band: tuple[float, float] | None) -> bool:
        if label != "any" and self.judge_label != (1 if label == "green" else 0):
            return False
        if band is not None:
            low, high = band
            conf = self.judge_confidence
            if conf is None or conf < low or (conf >= high and high < 1.0):
                return False
        return True


def _standing(claim: LedgerClaim, reviews: list[Review], reviewer: str) -> Standing:
    if claim.status == WAITING:
        return "waiting"
    if claim.status == ClaimStatus.HUMAN:
        return "mine" if any(r.reviewer == reviewer for r in reviews) else "others"
    if claim.status == ClaimStatus.JUDGE:
        return "mine" if any(r.reviewer == reviewer for r in reviews) else "judge"
    return "other"


def _row(claim: LedgerClaim, reviews: list[Review], reviewer: str) -> ClaimRow:
    state = claim.state()
    verdict = state.verdict if state is not None else None
    readable = verdict is not None and verdict.readable
    return ClaimRow(
        claim_id=claim.claim_id,
        seq=claim.seq,
        standing=_standing(claim, reviews, reviewer),
        text=state.text if state is not None else "",
        judge_label=verdict.label if readable and verdict is not None else None,
        judge_confidence=verdict.confidence if readable and verdict is not None else None,
        reviews=tuple(reviews),
        audit=state.audit if state is not None else False,
    )


def seen_by(
    rows: Iterable[ClaimRow], reviewer: str, *, blind: bool, audit_blind: bool, decided: Collection[str]
) -> list[ClaimRow]:
    """The rows as this person may see them (`policy.verdict_hidden`): on a claim they have not decided
    (`decided`: claim ids with any decision of theirs, undone ones too), a blind session or a blind audit
    withholds the Judge's label and confidence and the others' labels."""
    out = []
    for row in rows:
        hide = verdict_hidden(
            blind=blind, audit=row.audit, audit_blind=audit_blind, decided_by_them=row.claim_id in decided
        )
        if hide:
            row = replace(row, judge_label=None, judge_confidence=None, reviews=(), hidden=True)
        out.append(row)
    return out


def claim_rows(ledger: Ledger, store: ReviewStore, run_id: str, reviewer: str, order: Order) -> list[ClaimRow]:
    """Every claim of the run with who holds it (waiting / decided by `reviewer` / by others / by the
    Judge), waiting ones first in the waiting order, then the rest in input order."""
    by_claim: dict[str, list[Review]] = {}
    for review in store.active(run_id=run_id):
        by_claim.setdefault(review.claim_id, []).append(review)
    claims = list(ledger.claims(run_id))
    waiting = in_order((c for c in claims if c.status == WAITING), order)
    rest = [c for c in claims if c.status != WAITING]
    return [_row(c, by_claim.get(c.claim_id, []), reviewer) for c in [*waiting, *rest]]


def claim_row(ledger: Ledger, store: ReviewStore, run_id: str, claim_id: str, reviewer: str) -> ClaimRow | None:
    """One claim of the run, as `claim_rows` shows it."""
    claim = ledger.claim(run_id, claim_id)
    if claim is None:
        return None
    return _row(claim, store.active(run_id=run_id, claim_id=claim_id), reviewer)


def search_rows(rows: Iterable[ClaimRow], query: str) -> list[ClaimRow]:
    """The claim whose id is `query` (exactly), else the claims whose id or text contain it (any case)."""
    listed = list(rows)
    wanted = query.strip()
    exact = [r for r in listed if r.claim_id == wanted]
    if exact or not wanted:
        return exact
    folded = wanted.casefold()
    return [r for r in listed if folded in r.claim_id.casefold() or folded in r.text.casefold()]


def stopped_at(store: ReviewStore, run_id: str, reviewer: str) -> str | None:
    """The claim `reviewer` last had on screen in this run (any session), if any."""
    return store.position(run_id, reviewer)


def last_note(store: ReviewStore, run_id: str, claim_id: str, reviewer: str) -> str | None:
    """The note of `reviewer`'s latest decision on the claim, undone ones included: a note typed before an
    undo comes back with the claim."""
    for review in reversed(store.history(run_id=run_id, claim_id=claim_id)):
        if review.reviewer == reviewer and review.note:
            return review.note
    return None
