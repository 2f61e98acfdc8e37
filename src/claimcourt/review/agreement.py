"""Cohen's kappa between reviewers, and between the Judge and the people.

Every active decision in the reviews table counts (first decisions and second opinions alike).
Judge-vs-people agreement is also split by whether the person saw the verdict before deciding: a gap
between the two is the anchoring that blind review exists to measure. A person's blind decision counts as
blind even when they changed it after the reveal (the change counts as shown): given the history, the
blind split takes the first blind decision of each person on each claim they still hold a decision on.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from claimcourt.eval.metrics import cohen_kappa
from claimcourt.store import Review


@dataclass(frozen=True)
class Agreement:
    """Agreement of two raters over the claims both labelled."""

    a: str
    b: str
    n: int
    agree: int
    # Each rater's count of green (1) labels, for the chance term.
    a_green: int
    b_green: int
    kappa: float | None

    @property
    def observed(self) -> float | None:
        return self.agree / self.n if self.n else None

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "observed": self.observed}


def agreement(a: str, b: str, pairs: Sequence[tuple[int, int]]) -> Agreement:
    return Agreement(
        a=a,
        b=b,
        n=len(pairs),
        agree=sum(1 for x, y in pairs if x == y),
        a_green=sum(x for x, _ in pairs),
        b_green=sum(y for _, y in pairs),
        kappa=cohen_kappa([x for x, _ in pairs], [y for _, y in pairs]),
    )


@dataclass
class AgreementReport:
    reviewers: list[Agreement]
    judge: list[Agreement]
    decisions: int
    claims: int

    def as_dict(self) -> dict[str, object]:
        return {
            "decisions": self.decisions,
            "claims": self.claims,
            "between_reviewers": [a.as_dict() for a in self.reviewers],
            "judge_vs_people": [a.as_dict() for a in self.judge],
        }


def blind_part(judged: list[Review], history: Iterable[Review]) -> list[Review]:
    """The decisions made without the verdict: the active blind ones, and for an active decision made
    after the reveal, the same person's first blind decision on that claim (kept in the history)."""
    first_blind: dict[tuple[str, str, str], Review] = {}
    for review in history:
        if not review.verdict_shown and review.judge_label is not None:
            first_blind.setdefault((review.run_id, review.claim_id, review.reviewer), review)
    part = []
    for review in judged:
        if not review.verdict_shown:
            part.append(review)
        elif (earlier := first_blind.get((review.run_id, review.claim_id, review.reviewer))) is not None:
            part.append(earlier)
    return part


def agreement_report(reviews: Iterable[Review], *, history: Iterable[Review] = ()) -> AgreementReport:
    """Agreement over the active decisions; `history` (every decision, undone ones too) lets a blind
    decision changed after the reveal still count as blind."""
    reviews = list(reviews)
    by_claim: dict[tuple[str, str], dict[str, int]] = {}
    for review in reviews:
        by_claim.setdefault((review.run_id, review.claim_id), {})[review.reviewer] = review.label
    names = sorted({r.reviewer for r in reviews})
    between: list[Agreement] = []
    for a, b in itertools.combinations(names, 2):
        pairs = [(labels[a], labels[b]) for labels in by_claim.values() if a in labels and b in labels]
        if pairs:
            between.append(agreement(a, b, pairs))
    if len(names) > 2:
        # Every pair of reviewers on every claim two or more of them decided.
        pooled = [
            (labels[a], labels[b]) for labels in by_claim.values() for a, b in itertools.combinations(sorted(labels), 2)
        ]
        if pooled:
            between.append(agreement("any reviewer", "any other", pooled))

    judged = [r for r in reviews if r.judge_label is not None]
    judge: list[Agreement] = []
    if judged:
        judge.append(agreement("Judge", "people", [(r.judge_label or 0, r.label) for r in judged]))
        shown_part = [(r.judge_label or 0, r.label) for r in judged if r.verdict_shown]
        blind = [(r.judge_label or 0, r.label) for r in blind_part(judged, history)]
        for name, part in (("people, verdict shown", shown_part), ("people, blind", blind)):
            if part:
                judge.append(agreement("Judge", name, part))
        if len(names) > 1:
            for name in names:
                part = [(r.judge_label or 0, r.label) for r in judged if r.reviewer == name]
                if part:
                    judge.append(agreement("Judge", name, part))
    return AgreementReport(reviewers=between, judge=judge, decisions=len(reviews), claims=len(by_claim))
