"""A threshold that carries a guarantee: fixed-sequence testing with an exact binomial bound.

After "Trust or Escalate" (Jung, Brahman, Choi, ICLR 2025). Given calibration claims, each with the
Judge's confidence and whether a person agreed with the Judge's label, choose the lowest threshold t
such that, with probability at least 1 - delta over the draw of the calibration claims, people agree
with the Judge on at least 1 - alpha of the claims it decides alone (confidence >= t).

The candidates are the distinct confidences, scanned from high to low, skipping those with fewer
than `min_n` calibration claims at or above them (that skip depends on confidences only, never on
agreement, so the sequence is fixed before any agreement is looked at). At each candidate the
disagreement rate of the claims at or above it is bounded from above by Clopper-Pearson at level
delta; the scan stops before the first candidate whose bound exceeds alpha. Because the hypotheses
are tested in a fixed order, each at level delta, and the scan stops at the first one not rejected,
the family-wise error stays at delta without any correction.

Methods are registered by name (`CALIBRATORS`), like the metrics: a new rule is one decorated function.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Beyond this many claims the "how many more would be needed" search gives up: the observed
# disagreement is too close to alpha for any realistic audit.
_MAX_NEEDED = 1_000_000


def clopper_pearson_upper(errors: int, n: int, delta: float) -> float:
    """One-sided exact upper bound on a binomial rate: P(rate <= bound) >= 1 - delta."""
    from scipy.stats import beta

    if n <= 0:
        return 1.0
    if errors >= n:
        return 1.0
    return float(beta.ppf(1.0 - delta, errors + 1, n - errors))


def upper_bounds(errors: np.ndarray, n: np.ndarray, delta: float) -> np.ndarray:
    """`clopper_pearson_upper` for many (errors, n) pairs at once."""
    from scipy.special import betaincinv  # the Beta quantile, without scipy.stats' per-call overhead

    errors = np.asarray(errors, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    out = np.ones(len(n), dtype=np.float64)
    open_ = (n > 0) & (errors < n)
    out[open_] = betaincinv(errors[open_] + 1, n[open_] - errors[open_], 1.0 - delta)
    return out


def clopper_pearson_interval(successes: int, n: int, confidence: float) -> tuple[float, float]:
    """Two-sided exact interval (what `scipy.stats.binomtest(...).proportion_ci(method="exact")` gives)."""
    from scipy.stats import beta

    tail = (1.0 - confidence) / 2.0
    low = 0.0 if successes == 0 else float(beta.ppf(tail, successes, n - successes + 1))
    high = 1.0 if successes == n else float(beta.ppf(1.0 - tail, successes + 1, n - successes))
    return low, high


@dataclass(frozen=True)
class GuaranteedThreshold:
    """The outcome of a calibration. `threshold` is None when no candidate qualifies (every claim must
    then go to a person); `n` is then the number of calibration claims, and `needed_more` says how many
    more audited claims at the observed agreement would let one qualify (None when none would)."""

    method: str
    alpha: float
    delta: float
    min_n: int
    threshold: float | None
    n: int  # calibration claims at or above the threshold (all of them when none qualifies)
    total: int  # calibration claims in all
    agreement: float | None  # observed, on the claims at or above the threshold
    agreement_bound: float | None  # guaranteed lower bound: 1 - the Clopper-Pearson upper bound
    coverage: float | None  # share of the calibration claims at or above the threshold
    tested: int  # candidates tested before the scan stopped
    needed_more: int | None = None

    def sentence(self) -> str:
        if self.threshold is None:
            if self.needed_more is None:
                more = " At the agreement seen so far, no number of audited claims would."
            else:
                more = f" About {self.needed_more} more audited claims, agreeing as these do, would let one qualify."
            return (
                f"No threshold guarantees agreement of at least {1 - self.alpha:.0%} with "
                f"{1 - self.delta:.0%} confidence on these {self.total} claims: every claim must go to a person." + more
            )
        assert self.coverage is not None
        return (
            f"Auto-decided labels agree with people at least {1 - self.alpha:.0%} of the time, with "
            f"{1 - self.delta:.0%} confidence, deciding {self.coverage:.0%} of claims alone "
            f"(threshold {self.threshold:.4f}, {self.n} calibration claims at or above it)."
        )


Calibrator = Callable[..., GuaranteedThreshold]
CALIBRATORS: dict[str, Calibrator] = {}


def calibrator(name: str) -> Callable[[Calibrator], Calibrator]:
    def register(fn: Calibrator) -> Calibrator:
        CALIBRATORS[name] = fn
        return fn

    return register


def needed_claims(disagreement: float, *, alpha: float, delta: float, min_n: int) -> int | None:
    """The fewest claims at this disagreement rate whose bound stays within alpha (None: none would);
    searched on a grid that grows by 2% a step, so the answer is within 2% of the exact one."""
    if disagreement >= alpha:
        return None
    grid = np.unique(np.geomspace(max(min_n, 1), _MAX_NEEDED, num=700).astype(np.int64))
    bounds = upper_bounds(np.ceil(disagreement * grid - 1e-9), grid, delta)
    passing = np.flatnonzero(bounds <= alpha)
    if not len(passing):
        return None
    first = int(passing[0])
    if first == 0:
        return int(grid[0])
    # Exact within the last step.
    low, high = int(grid[first - 1]) + 1, int(grid[first])
    steps = np.arange(low, high + 1)
    exact = upper_bounds(np.ceil(disagreement * steps - 1e-9), steps, delta)
    return int(steps[np.flatnonzero(exact <= alpha)[0]]) if (exact <= alpha).any() else high


def more_needed(
    n_at: np.ndarray, errors_at: np.ndarray, total: int, *, alpha: float, delta: float, min_n: int
) -> int | None:
    """How many more calibration claims, drawn like these, would let some threshold qualify: for each
    candidate, the claims its observed disagreement needs, scaled by its share of all claims; the
    fewest over the candidates (at most 12 of them, spread evenly). None when none would."""
    best: int | None = None
    for j in np.unique(np.linspace(0, len(n_at) - 1, num=min(len(n_at), 12)).astype(int)) if len(n_at) else []:
        n_j = int(n_at[j])
        needed = needed_claims(int(errors_at[j]) / n_j, alpha=alpha, delta=delta, min_n=min_n)
        if needed is None:
            continue
        more = max(math.ceil(needed * total / n_j) - total, 1)
        best = more if best is None else min(best, more)
    return best


def _at_or_above(confidence: np.ndarray, agrees: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct confidences, high to low, with the claims and disagreements at or above each."""
    order = np.argsort(-confidence, kind="stable")
    conf, wrong = confidence[order], ~agrees[order]
    candidates, first = np.unique(-conf, return_index=True)
    ends = np.append(first[1:], len(conf))  # one past the last claim of each tie group
    n_at = ends
    errors_at = np.cumsum(wrong)[ends - 1] if len(conf) else np.zeros(0, dtype=np.int64)
    return -candidates, n_at, errors_at


@calibrator("fixed_sequence")
def fixed_sequence(
    confidence: np.ndarray, agrees: np.ndarray, *, alpha: float, delta: float, min_n: int
) -> GuaranteedThreshold:
    """The lowest threshold whose disagreement bound, and that of every candidate above it, is <= alpha."""
    conf = np.asarray(confidence, dtype=np.float64)
    ok = np.asarray(agrees, dtype=bool)
    total = len(conf)
    candidates, n_at, errors_at = _at_or_above(conf, ok)
    tested_at = np.flatnonzero(n_at >= min_n)
    bounds = upper_bounds(errors_at[tested_at], n_at[tested_at], delta)
    failing = np.flatnonzero(bounds > alpha)
    # Fixed sequence: every candidate before the first failure passes; the last of them is chosen.
    passed = int(failing[0]) if len(failing) else len(tested_at)
    tested = min(passed + 1, len(tested_at))
    chosen = int(tested_at[passed - 1]) if passed else None
    bound_at_chosen = float(bounds[passed - 1]) if passed else 1.0
    if chosen is None:
        return GuaranteedThreshold(
            "fixed_sequence",
            alpha,
            delta,
            min_n,
            None,
            total,
            total,
            float(ok.mean()) if total else None,
            None,
            None,
            tested,
            more_needed(n_at, errors_at, total, alpha=alpha, delta=delta, min_n=min_n),
        )
    n = int(n_at[chosen])
    return GuaranteedThreshold(
        "fixed_sequence",
        alpha,
        delta,
        min_n,
        float(candidates[chosen]),
        n,
        total,
        1.0 - int(errors_at[chosen]) / n,
        1.0 - bound_at_chosen,
        n / total,
        tested,
    )


def choose_threshold(
    confidence: np.ndarray,
    agrees: np.ndarray,
    *,
    alpha: float = 0.10,
    delta: float = 0.10,
    min_n: int = 30,
    method: str = "fixed_sequence",
) -> GuaranteedThreshold:
    if not 0.0 < alpha < 1.0 or not 0.0 < delta < 1.0:
        raise ValueError("alpha and delta must lie strictly between 0 and 1")
    return CALIBRATORS[method](confidence, agrees, alpha=alpha, delta=delta, min_n=min_n)
