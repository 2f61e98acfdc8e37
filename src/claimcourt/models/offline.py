"""The offline profile: evidence briefs for the debaters, a kNN + logistic-regression Judge.

Runs on any CPU with no network. The Judge's p_green mixes two estimates that fail differently: a
similarity-weighted vote of the retrieved neighbours (local, follows near-duplicates) and a logistic
regression fitted on every indexed embedding at index time (global, smooth).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from claimcourt.config import OfflineSettings
from claimcourt.errors import IndexStateError
from claimcourt.models.cues import find_cues
from claimcourt.prompts import advocate as advocate_prompts
from claimcourt.prompts import judge as judge_prompts
from claimcourt.prompts import skeptic as skeptic_prompts
from claimcourt.retrieval.search import NeighbourSearch
from claimcourt.retrieval.store import LabelledStore
from claimcourt.state import Argument, ClaimState, Neighbour, Role, Verdict

BACKEND_NAME = "offline"


@dataclass(frozen=True)
class LinearClassifier:
    """A logistic regression over claim embeddings, stored as JSON beside the Chroma store."""

    coef: np.ndarray
    intercept: float
    embedding_model: str
    n_train: int

    def p_green(self, vector: np.ndarray) -> float:
        z = float(vector @ self.coef) + self.intercept
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    @classmethod
    def fit(cls, vectors: np.ndarray, labels: np.ndarray, *, c: float, embedding_model: str) -> LinearClassifier:
        from sklearn.linear_model import LogisticRegression

        if len(set(labels.tolist())) < 2:
            # One class only: no boundary to learn; the prior is all the classifier can say.
            prior = (labels.mean() * len(labels) + 1) / (len(labels) + 2)
            return cls(np.zeros(vectors.shape[1]), math.log(prior / (1 - prior)), embedding_model, len(labels))
        model = LogisticRegression(C=c, max_iter=2000)
        model.fit(vectors, labels)
        return cls(model.coef_[0].astype(np.float64), float(model.intercept_[0]), embedding_model, len(labels))

    def to_json(self) -> str:
        return json.dumps(
            {
                "embedding_model": self.embedding_model,
                "n_train": self.n_train,
                "intercept": self.intercept,
                "coef": self.coef.tolist(),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> LinearClassifier:
        payload = json.loads(text)
        return cls(
            np.asarray(payload["coef"], dtype=np.float64),
            float(payload["intercept"]),
            str(payload["embedding_model"]),
            int(payload["n_train"]),
        )

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.to_json(), encoding="utf-8")
        tmp.replace(path)  # atomic: a crash mid-write never leaves half a model

    @classmethod
    def load(cls, path: Path) -> LinearClassifier:
        if not path.exists():
            raise IndexStateError(
                f"{path}: the offline judge's classifier is missing; run `claimcourt index FILE` first"
            )
        return cls.from_json(path.read_text(encoding="utf-8"))


def save_classifier(classifier: LinearClassifier, store: LabelledStore, path: Path) -> str:
    """A folder store keeps the classifier in a file beside it; a server keeps it with the collection,
    so that workers on other machines read it too. Returns where it went."""
    if store.is_server:
        store.save_judge(classifier.to_json())
        return f"{store.where} (collection '{store.collection_name}')"
    classifier.save(path)
    return str(path)


def load_classifier(store: LabelledStore, path: Path) -> LinearClassifier:
    if not store.is_server:
        return LinearClassifier.load(path)
    payload = store.load_judge()
    if payload is None:
        raise IndexStateError(
            f"{store.where}: the collection '{store.collection_name}' holds no offline judge's classifier; "
            "run `claimcourt index FILE` with this chroma_url first"
        )
    return LinearClassifier.from_json(payload)


@dataclass(frozen=True)
class JudgeEstimate:
    p_green: float
    p_knn: float | None
    p_logreg: float
    knn_share: float


def knn_vote(neighbours: list[Neighbour]) -> float | None:
    """Similarity-weighted share of green neighbours; None with no neighbour to vote."""
    weights = [max(n.similarity, 0.0) + 1e-6 for n in neighbours]
    if not weights:
        return None
    return sum(w * n.label for w, n in zip(weights, neighbours, strict=True)) / sum(weights)


def _excerpt(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _precedents(neighbours: list[Neighbour], label: int, excerpt_chars: int) -> tuple[str, list[str]]:
    chosen = [n for n in neighbours if n.label == label]
    if not chosen:
        return "", []
    lines = [f"\n  - {n.id} (similarity {n.similarity:.2f}): {_excerpt(n.text, excerpt_chars)}" for n in chosen]
    return "".join(lines), [n.id for n in chosen]


class OfflineBackend:
    """Evidence briefs and a kNN + LR Judge. The classifier loads on first use."""

    name = BACKEND_NAME

    def __init__(self, settings: OfflineSettings, search: NeighbourSearch, classifier_path: Path) -> None:
        self.settings = settings
        self.search = search
        self.classifier_path = classifier_path
        self._classifier: LinearClassifier | None = None

    @property
    def classifier(self) -> LinearClassifier:
        if self._classifier is None:
            classifier = load_classifier(self.search.store, self.classifier_path)
            if classifier.embedding_model != self.search.embedder.name:
                raise IndexStateError(
                    f"{self.classifier_path}: fitted on '{classifier.embedding_model}' embeddings, "
                    f"but this profile uses '{self.search.embedder.name}'; re-index"
                )
            self._classifier = classifier
        return self._classifier

    def check_ready(self) -> None:
        _ = self.classifier

    async def argue(self, role: Role, state: ClaimState) -> Argument:
        k = len(state.neighbours)
        cues = find_cues(state.text)
        if role == "advocate":
            precedents, cited = _precedents(state.neighbours, 1, self.settings.excerpt_chars)
            text = advocate_prompts.ADVOCATE_BRIEF.format(
                precedents=precedents or advocate_prompts.NO_PRECEDENTS.format(k=k),
                cues=", ".join(c.describe() for c in cues) or advocate_prompts.NO_CUES,
            )
        else:
            precedents, cited = _precedents(state.neighbours, 0, self.settings.excerpt_chars)
            strong = [c.describe() for c in cues if c.strong]
            if not cues:
                assessment = skeptic_prompts.NO_CUES
            elif not strong:
                assessment = skeptic_prompts.ONLY_WEAK_CUES.format(cues=", ".join(c.found for c in cues))
            else:
                assessment = skeptic_prompts.STRONG_CUES.format(cues=", ".join(strong))
            text = skeptic_prompts.SKEPTIC_BRIEF.format(
                precedents=precedents or skeptic_prompts.NO_PRECEDENTS.format(k=k), cue_assessment=assessment
            )
        return Argument(role=role, text=text, cues=[c.describe() for c in cues], cited=cited, backend=BACKEND_NAME)

    def estimate(self, vector: np.ndarray, neighbours: list[Neighbour]) -> JudgeEstimate:
        """The Judge's p_green from a claim's embedding and its neighbours (`claimcourt select` scores a
        pool with it, so that its p_green is the Judge's)."""
        p_logreg = self.classifier.p_green(vector)
        p_knn = knn_vote(neighbours)
        knn_share = self.settings.knn_weight if p_knn is not None else 0.0
        p_green = knn_share * (p_knn or 0.0) + (1.0 - knn_share) * p_logreg
        return JudgeEstimate(p_green, p_knn, p_logreg, knn_share)

    async def judge(self, state: ClaimState) -> Verdict:
        vector = await self.search.embedding(state.text)
        estimate = self.estimate(vector, state.neighbours)
        p_green, p_knn, p_logreg, knn_share = estimate.p_green, estimate.p_knn, estimate.p_logreg, estimate.knn_share
        components = {"logreg": round(p_logreg, 6)}
        if p_knn is not None:
            components["knn"] = round(p_knn, 6)
        return Verdict.from_p_green(
            p_green,
            rationale=self._rationale(state, p_green, p_knn, p_logreg, knn_share),
            method="knn+logreg",
            components=components,
        )

    def _rationale(
        self, state: ClaimState, p_green: float, p_knn: float | None, p_logreg: float, knn_share: float
    ) -> str:
        neighbours = state.neighbours
        strongest = ""
        if neighbours:
            top = neighbours[0]
            strongest = (
                f"Closest precedent {top.id} ({'green' if top.label else 'not green'}, "
                f"similarity {top.similarity:.2f}). "
            )
        cue_note = ""
        if state.advocate is not None and state.advocate.cues:
            cue_note = "Cues: " + ", ".join(state.advocate.cues[:4]) + "."
        return judge_prompts.JUDGE_RATIONALE.format(
            p_green=p_green,
            knn_share=knn_share,
            lr_share=1.0 - knn_share,
            k=len(neighbours),
            knn=p_knn if p_knn is not None else float("nan"),
            n_green=sum(n.label for n in neighbours),
            n_not_green=sum(1 - n.label for n in neighbours),
            logreg=p_logreg,
            strongest=strongest,
            cues=cue_note,
        ).strip()
