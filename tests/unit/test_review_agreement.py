from __future__ import annotations

import pytest

from claimcourt.eval.metrics import cohen_kappa
from claimcourt.review.agreement import agreement_report
from claimcourt.store import Review


def test_kappa_matches_a_hand_computed_example() -> None:
    # A says green on 6 of 10, B on 5 of 10; they agree on 7.
    # p_o = 0.7; p_e = 0.6 * 0.5 + 0.4 * 0.5 = 0.5; kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    a = [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    b = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]
    assert cohen_kappa(a, b) == pytest.approx(0.4)


def test_kappa_is_one_for_perfect_agreement_and_negative_for_systematic_disagreement() -> None:
    assert cohen_kappa([1, 0, 1, 0], [1, 0, 1, 0]) == pytest.approx(1.0)
    assert cohen_kappa([1, 0, 1, 0], [0, 1, 0, 1]) == pytest.approx(-1.0)


def test_kappa_is_undefined_without_variation_or_pairs() -> None:
    assert cohen_kappa([1, 1], [1, 1]) is None
    assert cohen_kappa([], []) is None


def _review(claim: str, reviewer: str, label: int, judge: int, shown: bool) -> Review:
    return Review(
        run_id="r",
        claim_id=claim,
        reviewer=reviewer,
        label=label,
        note=None,
        verdict_shown=shown,
        shown=(),
        judge_label=judge,
        judge_confidence=0.6,
        resumed_thread=reviewer == "ann",
        source="bulk",
        decided_at="2026-01-01T00:00:00.000+00:00",
    )


def test_report_pairs_reviewers_on_shared_claims_and_splits_judge_agreement_by_what_was_shown() -> None:
    ann = [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    bob = [1, 1, 1, 1, 0, 0, 0, 0, 0, 1]
    judge = [1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    reviews = [_review(f"c{i}", "ann", ann[i], judge[i], shown=True) for i in range(10)]
    reviews += [_review(f"c{i}", "bob", bob[i], judge[i], shown=False) for i in range(10)]
    reviews.append(_review("only-ann", "ann", 1, 0, shown=True))
    report = agreement_report(reviews)

    (pair,) = report.reviewers
    assert (pair.a, pair.b, pair.n, pair.agree) == ("ann", "bob", 10, 7)
    assert pair.kappa == pytest.approx(0.4)

    judge_rows = {row.b: row for row in report.judge}
    assert judge_rows["people"].n == 21
    # ann saw the verdict and echoed it (10 of 11 agree); bob was blind (7 of 10).
    assert (judge_rows["people, verdict shown"].n, judge_rows["people, verdict shown"].agree) == (11, 10)
    assert judge_rows["people, blind"].kappa == pytest.approx(0.4)
    assert judge_rows["ann"].n == 11
    assert report.claims == 11
    assert report.decisions == 21
