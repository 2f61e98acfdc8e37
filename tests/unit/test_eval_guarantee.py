"""The guaranteed threshold: Clopper-Pearson against scipy, the fixed-sequence search on constructed
cases with known answers, and a seeded simulation that the guarantee holds in >= 1 - delta of draws."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from claimcourt.eval.guarantee import (
    CALIBRATORS,
    choose_threshold,
    clopper_pearson_interval,
    clopper_pearson_upper,
)


@pytest.mark.parametrize(("k", "n"), [(0, 1), (0, 30), (3, 30), (15, 30), (29, 30), (30, 30), (7, 250), (1, 2)])
def test_clopper_pearson_matches_scipys_exact_interval(k: int, n: int) -> None:
    for level in (0.80, 0.90, 0.95):
        expected = binomtest(k, n).proportion_ci(confidence_level=level, method="exact")
        low, high = clopper_pearson_interval(k, n, level)
        assert low == pytest.approx(expected.low, abs=1e-10)
        assert high == pytest.approx(expected.high, abs=1e-10)
    # A one-sided bound at level delta is the upper end of the two-sided interval at 1 - 2 delta.
    two_sided = binomtest(k, n).proportion_ci(confidence_level=0.80, method="exact")
    assert clopper_pearson_upper(k, n, 0.10) == pytest.approx(two_sided.high, abs=1e-10)


def test_no_error_in_n_claims_bounds_the_rate_by_the_closed_form() -> None:
    # P(0 errors | rate u) = (1-u)^n = delta  =>  u = 1 - delta^(1/n)
    assert clopper_pearson_upper(0, 30, 0.10) == pytest.approx(1 - 0.10 ** (1 / 30))


def _claims(*groups: tuple[float, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, claims, of which disagree) groups -> arrays."""
    conf: list[float] = []
    agrees: list[bool] = []
    for c, n, wrong in groups:
        conf += [c] * n
        agrees += [False] * wrong + [True] * (n - wrong)
    return np.asarray(conf), np.asarray(agrees)


def test_all_agreeing_claims_are_all_decided_alone() -> None:
    conf = np.linspace(0.99, 0.60, 100)
    found = choose_threshold(conf, np.ones(100, dtype=bool), alpha=0.1, delta=0.1, min_n=30)
    assert found.threshold == pytest.approx(0.60)
    assert (found.n, found.coverage, found.agreement) == (100, 1.0, 1.0)
    assert found.agreement_bound == pytest.approx(0.10 ** (1 / 100))
    assert "deciding 100% of claims alone" in found.sentence()


def test_no_threshold_qualifies_when_people_disagree_everywhere() -> None:
    conf, agrees = _claims((0.95, 40, 20), (0.80, 40, 20))
    found = choose_threshold(conf, agrees, alpha=0.1, delta=0.1, min_n=30)
    assert found.threshold is None and found.agreement_bound is None and found.coverage is None
    assert found.needed_more is None  # half wrong: no number of claims would vouch for 90%
    assert "every claim must go to a person" in found.sentence()


def test_too_few_claims_says_how_many_more_are_needed() -> None:
    conf = np.linspace(0.99, 0.90, 25)
    found = choose_threshold(conf, np.ones(25, dtype=bool), alpha=0.1, delta=0.1, min_n=30)
    assert found.threshold is None and found.tested == 0
    assert found.needed_more == 5  # with no disagreement, min_n claims suffice
    assert "5 more audited claims" in found.sentence()


def test_exactly_min_n_claims_is_enough_and_one_fewer_is_not() -> None:
    conf = np.linspace(0.99, 0.80, 30)
    agrees = np.ones(30, dtype=bool)
    found = choose_threshold(conf, agrees, alpha=0.1, delta=0.1, min_n=30)
    assert found.threshold == pytest.approx(0.80) and found.n == 30 and found.tested == 1
    assert choose_threshold(conf, agrees, alpha=0.1, delta=0.1, min_n=31).threshold is None


def test_tied_confidences_enter_together() -> None:
    # 35 agreeing claims at 0.95, then 10 tied at 0.90 of which 5 disagree: the tie group cannot be
    # split to keep its agreeing half, so the threshold stays at 0.95.
    conf, agrees = _claims((0.95, 35, 0), (0.90, 10, 5))
    found = choose_threshold(conf, agrees, alpha=0.1, delta=0.1, min_n=30)
    assert found.threshold == pytest.approx(0.95) and found.n == 35
    assert clopper_pearson_upper(5, 45, 0.1) > 0.1  # why 0.90 fails


def test_the_scan_stops_at_the_first_failure_even_if_a_lower_threshold_would_pass() -> None:
    conf, agrees = _claims((0.99, 40, 0), (0.90, 8, 8), (0.70, 400, 0))
    found = choose_threshold(conf, agrees, alpha=0.1, delta=0.1, min_n=30)
    assert found.threshold == pytest.approx(0.99)
    assert clopper_pearson_upper(8, 448, 0.1) <= 0.1  # 0.70 alone would pass: fixed sequence forbids it


def test_calibrators_are_registered_by_name() -> None:
    assert "fixed_sequence" in CALIBRATORS
    with pytest.raises(ValueError, match="alpha and delta"):
        choose_threshold(np.ones(3), np.ones(3, dtype=bool), alpha=0.0)


def _true_agreement(threshold: float) -> float:
    """The simulated Judge: confidence c ~ U(0.5, 1), a person agrees with probability 0.3 + 0.7 c.
    Agreement on the claims with c >= t is then 0.3 + 0.7 (t + 1) / 2."""
    return 0.3 + 0.7 * (threshold + 1.0) / 2.0


def test_the_guarantee_holds_in_at_least_one_minus_delta_of_seeded_draws() -> None:
    alpha, delta, n, draws = 0.10, 0.10, 400, 400
    rng = np.random.default_rng(12)
    violated = naive_violated = decided = 0
    for _ in range(draws):
        conf = rng.uniform(0.5, 1.0, size=n)
        agrees = rng.uniform(size=n) < 0.3 + 0.7 * conf
        found = choose_threshold(conf, agrees, alpha=alpha, delta=delta, min_n=30)
        if found.threshold is not None:
            decided += 1
            violated += _true_agreement(found.threshold) < 1 - alpha
        # The naive rule: the lowest threshold whose observed agreement reaches 1 - alpha.
        order = np.argsort(-conf)
        observed = np.cumsum(agrees[order]) / np.arange(1, n + 1)
        ok = np.flatnonzero(observed[29:] >= 1 - alpha)
        if len(ok):
            naive_violated += _true_agreement(float(conf[order][29 + ok[-1]])) < 1 - alpha
    assert decided > draws / 2  # the guarantee is not bought by never deciding
    assert violated / draws <= delta
    assert naive_violated / draws > 2 * delta  # the same check catches a rule without the bound
