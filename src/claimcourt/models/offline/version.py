"""A Judge version: the record of one fit of the offline Judge, kept in the Judge's own payload.

Every fit (`claimcourt index` and `claimcourt learn`) makes the next version. The record says what it was
fitted on (how many silver labels, which people's decisions, at what weight), how it did on those
decisions out of fold (per-class recall, so a Judge that only learned to say "not green" shows), and the
recalibration of p_green to the people's labels. Verdicts carry the version that gave them; `calibrate`
reads `human_ids` to leave out the claims a version was fitted on.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from claimcourt.store import Ledger

# Pull of the recalibration towards "change nothing" (slope 1, offset 0), in pseudo-decisions: with a
# handful of decisions it moves little, with dozens the decisions decide.
RIDGE = 2.0
_NEWTON_STEPS = 50


def _logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(clipped / (1 - clipped))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class Recalibration:
    """p' = sigmoid(slope * logit(p) + offset), fitted to people's labels (Platt scaling, pulled to identity)."""

    slope: float = 1.0
    offset: float = 0.0
    n: int = 0

    def apply(self, p_green: float) -> float:
        return float(_sigmoid(self.slope * _logit(np.asarray(p_green)) + self.offset))

    @classmethod
    def fit(
        cls, p_green: np.ndarray, labels: np.ndarray, weights: np.ndarray, *, ridge: float = RIDGE
    ) -> Recalibration:
        """Weighted log-loss plus ridge * ((slope - 1)^2 + offset^2), by Newton's method (two unknowns)."""
        z = _logit(np.asarray(p_green, dtype=np.float64))
        y = np.asarray(labels, dtype=np.float64)
        w = np.asarray(weights, dtype=np.float64)
        x = np.stack([z, np.ones_like(z)], axis=1)
        theta = np.array([1.0, 0.0])
        prior = np.array([1.0, 0.0])
        for _ in range(_NEWTON_STEPS):
            p = _sigmoid(x @ theta)
            grad = x.T @ (w * (p - y)) + ridge * (theta - prior)
            hess = (x * (w * p * (1 - p))[:, None]).T @ x + ridge * np.eye(2)
            step = np.linalg.solve(hess, grad)
            theta = theta - step
            if float(np.abs(step).max()) < 1e-9:
                break
        return cls(float(theta[0]), float(theta[1]), len(y))


@dataclass(frozen=True)
class JudgeRecord:
    """What one fit of the offline Judge was, as its payload records it."""

    version: int
    fitted_at: str
    by: str  # "index" or "learn"
    n_silver: int
    n_human: int
    human_weight: float
    # The claim ids of the people's decisions it was fitted on (calibrate leaves them out).
    human_ids: tuple[str, ...] = ()
    # Out of fold, on the people's decisions: None with none of that class.
    recall_green: float | None = None
    recall_not_green: float | None = None
    accuracy: float | None = None
    recalibration: Recalibration | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    # Which decisions, with which labels: `learn` refits only when they changed (`decisions_digest`).
    decisions_digest: str = ""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["human_ids"] = list(self.human_ids)
        out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> JudgeRecord:
        recal = payload.get("recalibration")
        return cls(
            version=int(payload["version"]),
            fitted_at=str(payload.get("fitted_at", "")),
            by=str(payload.get("by", "index")),
            n_silver=int(payload.get("n_silver", 0)),
            n_human=int(payload.get("n_human", 0)),
            human_weight=float(payload.get("human_weight", 1.0)),
            human_ids=tuple(payload.get("human_ids", ())),
            recall_green=payload.get("recall_green"),
            recall_not_green=payload.get("recall_not_green"),
            accuracy=payload.get("accuracy"),
            recalibration=Recalibration(**recal) if recal else None,
            notes=tuple(payload.get("notes", ())),
            decisions_digest=str(payload.get("decisions_digest", "")),
        )

    def describe(self) -> str:
        """One line for `learn` and `runs`."""
        line = f"Judge v{self.version} ({self.by}, {self.fitted_at}): {self.n_silver} silver"
        line += f" + {self.n_human} human decisions x{self.human_weight:g}"
        if self.recall_green is not None or self.recall_not_green is not None:
            line += f"; out of fold on those decisions: accuracy {_fmt(self.accuracy)}, recall green "
            line += f"{_fmt(self.recall_green)}, recall not green {_fmt(self.recall_not_green)}"
        if self.recalibration is not None:
            r = self.recalibration
            line += f"; p_green recalibrated (slope {r.slope:.2f}, offset {r.offset:+.2f})"
        return line


def decisions_digest(decisions: Iterable[tuple[str, int]]) -> str:
    """One fingerprint of (claim id, label) pairs, whatever their order."""
    joined = "\n".join(sorted(f"{claim_id}\t{int(label)}" for claim_id, label in decisions))
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()


def versions_in_run(ledger: Ledger, run_id: str) -> dict[str, int]:
    """How many of the run's claims each Judge version judged ('v2': 20; 'v3 rejudged': 4); claims
    judged by a Judge without versions (another profile) are left out."""
    found: Counter[str] = Counter()
    for claim in ledger.claims(run_id):
        state = claim.state()
        verdict = state.verdict if state is not None else None
        if verdict is not None and verdict.judge_version is not None:
            found[f"v{verdict.judge_version}" + (" rejudged" if verdict.rejudged else "")] += 1
    return dict(sorted(found.items()))


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2f}"


def record_of(payload: dict[str, Any]) -> JudgeRecord | None:
    """The record in a Judge's payload; None for one written before versions (it counts as version 0)."""
    fit = payload.get("fit")
    return JudgeRecord.from_json(fit) if isinstance(fit, dict) else None


def version_of(payload: dict[str, Any] | None) -> int:
    record = record_of(payload) if payload else None
    return record.version if record is not None else 0
