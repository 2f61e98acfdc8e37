"""The offline profile: evidence briefs for the debaters, and a Judge that weighs them.

Runs on any CPU with no network. The Advocate cites the green precedents and the Y02 cues, the Skeptic
the not-green precedents and how weak the cues are. The Judge weighs what the two briefs bring (which
precedents each cites, how similar they are, strong vs weak cues) together with a logistic regression
on the claim's embedding, in a model fitted at index time (`models.evidence`). An index written before
that model existed still works: its Judge mixes a similarity-weighted vote of the neighbours with the
logistic regression (`knn_weight`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from claimcourt.config import OfflineSettings, Settings
from claimcourt.errors import IndexStateError
from claimcourt.models.base import DebateBackend
from claimcourt.models.cues import is_weak_cue
from claimcourt.models.offline.briefs import BACKEND_NAME, offline_brief
from claimcourt.models.offline.evidence import FEATURES, EvidenceWeighing, brief_features, describe_contributions
from claimcourt.models.offline.payload import (
    LinearClassifier,
    current_record,
    judge_from_json,
    judge_text,
    load_classifier,
    load_judge,
    load_judge_file,
    save_classifier,
)
from claimcourt.models.offline.version import JudgeRecord
from claimcourt.models.registry import register_backend
from claimcourt.prompts import judge as judge_prompts
from claimcourt.prompts import roles
from claimcourt.prompts.roles import RolePrompts
from claimcourt.retrieval.search import NeighbourSearch
from claimcourt.state import Argument, ClaimState, Neighbour, Role, Verdict
from claimcourt.workspace import WorkspacePaths

# The stored Judge lives in `models.offline.payload`; its names stay importable from here.
__all__ = [
    "BACKEND_NAME",
    "LinearClassifier",
    "OfflineBackend",
    "current_record",
    "judge_from_json",
    "judge_text",
    "load_classifier",
    "load_judge",
    "load_judge_file",
    "offline_brief",
    "save_classifier",
]


@dataclass(frozen=True)
class JudgeEstimate:
    p_green: float
    p_knn: float | None
    p_logreg: float
    knn_share: float
    # With a fitted weighing of the briefs: its features (`models.evidence.FEATURES` order).
    features: np.ndarray | None = None


def knn_vote(neighbours: list[Neighbour]) -> float | None:
    """Similarity-weighted share of green neighbours; None with no neighbour to vote."""
    weights = [max(n.similarity, 0.0) + 1e-6 for n in neighbours]
    if not weights:
        return None
    return sum(w * n.label for w, n in zip(weights, neighbours, strict=True)) / sum(weights)


class OfflineBackend(DebateBackend):
    """Evidence briefs and a Judge that weighs them. The fitted models load on first use."""

    name = BACKEND_NAME

    def __init__(
        self,
        settings: OfflineSettings,
        search: NeighbourSearch,
        classifier_path: Path,
        prompts: RolePrompts = roles.OFFLINE,
    ) -> None:
        self.settings = settings
        self.prompts = prompts
        self.search = search
        self.classifier_path = classifier_path
        self._classifier: LinearClassifier | None = None
        self._evidence: EvidenceWeighing | None = None
        self._record: JudgeRecord | None = None

    @property
    def classifier(self) -> LinearClassifier:
        if self._classifier is None:
            classifier, self._evidence, self._record = load_judge(self.search.store, self.classifier_path)
            if classifier.embedding_model != self.search.embedder.name:
                raise IndexStateError(
                    f"{self.classifier_path}: fitted on '{classifier.embedding_model}' embeddings, "
                    f"but this profile uses '{self.search.embedder.name}'; re-index"
                )
            self._classifier = classifier
        return self._classifier

    def check_ready(self) -> None:
        _ = self.classifier

    @property
    def evidence(self) -> EvidenceWeighing | None:
        _ = self.classifier
        return self._evidence

    @property
    def record(self) -> JudgeRecord | None:
        """The Judge version this backend judges with (loaded once: a refit mid-run is not mixed in)."""
        _ = self.classifier
        return self._record

    @property
    def version(self) -> int:
        record = self.record
        return record.version if record is not None else 0

    def _recalibrated(self, p_green: float) -> float:
        record = self.record
        recal = record.recalibration if record is not None else None
        return recal.apply(p_green) if recal is not None else p_green

    async def argue(self, role: Role, state: ClaimState) -> Argument:
        template = self.prompts.advocate if role == "advocate" else self.prompts.skeptic
        return offline_brief(role, state.text, state.neighbours, self.settings.excerpt_chars, template)

    def briefs(self, text: str, neighbours: list[Neighbour]) -> tuple[Argument, Argument]:
        """Both briefs without running the graph (`claimcourt select` scores a pool this way)."""
        excerpt = self.settings.excerpt_chars
        return (
            offline_brief("advocate", text, neighbours, excerpt, self.prompts.advocate),
            offline_brief("skeptic", text, neighbours, excerpt, self.prompts.skeptic),
        )

    def estimate(
        self,
        vector: np.ndarray,
        neighbours: list[Neighbour],
        advocate: Argument | None = None,
        skeptic: Argument | None = None,
    ) -> JudgeEstimate:
        """The Judge's p_green from a claim's embedding, its neighbours and the two briefs."""
        p_logreg = self.classifier.p_green(vector)
        p_knn = knn_vote(neighbours)
        weighing = self.evidence
        if weighing is not None:
            features = brief_features(p_logreg, neighbours, advocate, skeptic)
            return JudgeEstimate(self._recalibrated(weighing.p_green(features)), p_knn, p_logreg, 0.0, features)
        knn_share = self.settings.knn_weight if p_knn is not None else 0.0
        p_green = knn_share * (p_knn or 0.0) + (1.0 - knn_share) * p_logreg
        return JudgeEstimate(self._recalibrated(p_green), p_knn, p_logreg, knn_share)

    async def judge(self, state: ClaimState) -> Verdict:
        vector = await self.search.embedding(state.text)
        estimate = self.estimate(vector, state.neighbours, state.advocate, state.skeptic)
        components = {"logreg": round(estimate.p_logreg, 6)}
        if estimate.p_knn is not None:
            components["knn"] = round(estimate.p_knn, 6)
        weighing = self.evidence
        if weighing is not None and estimate.features is not None:
            pushes = weighing.contributions(estimate.features)
            components.update({f"push: {name}": round(float(v), 4) for name, v in zip(FEATURES, pushes, strict=True)})
            return Verdict.from_p_green(
                estimate.p_green,
                rationale=self._weighed_rationale(state, estimate, weighing),
                method="weighed briefs",
                components=components,
                judge_version=self.version,
            )
        return Verdict.from_p_green(
            estimate.p_green,
            rationale=self._rationale(state, estimate.p_green, estimate.p_knn, estimate.p_logreg, estimate.knn_share),
            method="knn+logreg",
            components=components,
            judge_version=self.version,
        )

    def _weighed_rationale(self, state: ClaimState, estimate: JudgeEstimate, weighing: EvidenceWeighing) -> str:
        assert estimate.features is not None
        by_id = {n.id: n.similarity for n in state.neighbours}

        def cited(argument: Argument | None) -> str:
            sims = sorted((by_id[i] for i in (argument.cited if argument else []) if i in by_id), reverse=True)
            return f"{len(sims)} (best {sims[0]:.2f})" if sims else "none"

        cues = state.advocate.cues if state.advocate is not None else []
        weak = sum(is_weak_cue(c) for c in cues)
        return judge_prompts.JUDGE_WEIGHED_RATIONALE.format(
            p_green=estimate.p_green,
            green=cited(state.advocate),
            not_green=cited(state.skeptic),
            strong=len(cues) - weak,
            weak=weak,
            logreg=estimate.p_logreg,
            moved=describe_contributions(weighing, estimate.features),
        ).strip()

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


@register_backend(BACKEND_NAME, prompts_like="offline")
def build_offline_backend(
    settings: Settings, search: NeighbourSearch, prompts: RolePrompts, *, hf_models: Any = None
) -> OfflineBackend:
    """The offline backend, its fitted Judge read from the workspace's store."""
    path = WorkspacePaths(settings.workspace).offline_judge(settings.retrieval.collection)
    return OfflineBackend(settings.offline, search, path, prompts)
