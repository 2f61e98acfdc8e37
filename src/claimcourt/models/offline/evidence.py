"""The offline Judge's weighing of the debate: a logistic regression over what the briefs bring.

The Advocate cites the green precedents, the Skeptic the not-green ones, and both read the claim's Y02
cues (strong or weak). The features below are read off those two `Argument`s (which precedents each
cites, and how similar they are) and off the embedding classifier's logit, so a better brief moves the
verdict. The weights are fitted at index time on the indexed claims themselves, each one debated
against the rest of the index (leave-one-out neighbours, out-of-fold classifier logits), so the
fitted weights see the classifier as it behaves on claims it was not trained on.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from claimcourt.models.cues import is_weak_cue
from claimcourt.state import Argument, Neighbour

# Each feature's name as the rationale says it, in vector order.
FEATURES: tuple[str, ...] = (
    "embedding classifier",
    "precedent vote",
    "closest precedents' vote",
    "best green vs best not-green precedent",
    "top-3 green vs top-3 not-green precedents",
    "strong cues",
    "weak cues",
    "any strong cue",
    "nearest precedent's label",
)
# Sharpness of the closest-precedents vote: similarities a few hundredths apart count very differently.
_SOFT_TEMPERATURE = 0.03
# Cue counts beyond this say nothing more (a claim listing five solar terms is not five times greener).
_CUE_CAP = 3
_P_EPS = 1e-6


def logit(p: float) -> float:
    p = min(max(p, _P_EPS), 1.0 - _P_EPS)
    return math.log(p / (1.0 - p))


def _cited_similarities(argument: Argument | None, neighbours: Sequence[Neighbour]) -> list[float]:
    if argument is None:
        return []
    by_id = {n.id: n.similarity for n in neighbours}
    return sorted((by_id[i] for i in argument.cited if i in by_id), reverse=True)


def brief_features(
    p_logreg: float, neighbours: Sequence[Neighbour], advocate: Argument | None, skeptic: Argument | None
) -> np.ndarray:
    """The feature vector (order of `FEATURES`) of one debate."""
    sims = np.asarray([n.similarity for n in neighbours], dtype=np.float64)
    labels = np.asarray([n.label for n in neighbours], dtype=np.float64)
    if len(sims):
        weights = np.maximum(sims, 0.0) + 1e-6
        vote = float((weights * labels).sum() / weights.sum())
        soft = np.exp((sims - sims.max()) / _SOFT_TEMPERATURE)
        soft_vote = float((soft * labels).sum() / soft.sum())
        nearest = float(labels[int(np.argmax(sims))])
    else:
        vote = soft_vote = nearest = 0.5
    green = _cited_similarities(advocate, neighbours)
    not_green = _cited_similarities(skeptic, neighbours)
    best_gap = (green[0] if green else 0.0) - (not_green[0] if not_green else 0.0)
    top3_gap = (float(np.mean(green[:3])) if green else 0.0) - (float(np.mean(not_green[:3])) if not_green else 0.0)
    cues = advocate.cues if advocate is not None else []
    strong = sum(not is_weak_cue(c) for c in cues)
    weak = len(cues) - strong
    return np.asarray(
        [
            logit(p_logreg),
            vote - 0.5,
            soft_vote - 0.5,
            best_gap,
            top3_gap,
            min(strong, _CUE_CAP),
            min(weak, _CUE_CAP),
            float(strong > 0),
            nearest - 0.5,
        ],
        dtype=np.float64,
    )


@dataclass(frozen=True)
class EvidenceWeighing:
    """p_green = sigmoid(intercept + sum_i coef_i * (x_i - mean_i) / scale_i)."""

    coef: np.ndarray
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    n_train: int
    top_k: int

    def contributions(self, features: np.ndarray) -> np.ndarray:
        """Each feature's push on the log-odds, relative to an average indexed claim."""
        return np.asarray(self.coef * (features - self.mean) / self.scale)

    def p_green(self, features: np.ndarray) -> float:
        z = self.intercept + float(self.contributions(features).sum())
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    @classmethod
    def fit(
        cls, features: np.ndarray, labels: np.ndarray, *, c: float, top_k: int, weights: np.ndarray | None = None
    ) -> EvidenceWeighing:
        from sklearn.linear_model import LogisticRegression

        mean = features.mean(axis=0)
        scale = features.std(axis=0)
        scale = np.where(scale > 1e-9, scale, 1.0)  # a constant feature (no cue anywhere) carries no weight
        model = LogisticRegression(C=c, max_iter=2000)
        model.fit((features - mean) / scale, labels, sample_weight=weights)
        return cls(model.coef_[0].astype(np.float64), float(model.intercept_[0]), mean, scale, len(labels), top_k)

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(FEATURES),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "mean": self.mean.tolist(),
            "scale": self.scale.tolist(),
            "n_train": self.n_train,
            "top_k": self.top_k,
        }

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> EvidenceWeighing | None:
        """None when the file was written with other features (an older index): the Judge falls back."""
        if tuple(payload.get("features", ())) != FEATURES:
            return None
        return cls(
            np.asarray(payload["coef"], dtype=np.float64),
            float(payload["intercept"]),
            np.asarray(payload["mean"], dtype=np.float64),
            np.asarray(payload["scale"], dtype=np.float64),
            int(payload["n_train"]),
            int(payload["top_k"]),
        )


def describe_contributions(weighing: EvidenceWeighing, features: np.ndarray, *, most: int = 3) -> str:
    """The few features that moved the verdict most, signed (+ towards green), in log-odds."""
    pushes = weighing.contributions(features)
    order = np.argsort(-np.abs(pushes))[:most]
    return ", ".join(f"{FEATURES[i]} {pushes[i]:+.2f}" for i in order)
