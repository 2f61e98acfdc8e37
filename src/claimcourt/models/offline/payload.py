"""The offline Judge's fitted parts as stored: the embedding classifier, the weighing of the briefs and
the record of the fit (its Judge version), one JSON payload in a file beside a folder store or in the
collection of a Chroma server, where every worker reads the same one."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from claimcourt.errors import IndexStateError
from claimcourt.models.offline.evidence import EvidenceWeighing
from claimcourt.models.offline.version import JudgeRecord, record_of
from claimcourt.retrieval.store import LabelledStore


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
    def fit(
        cls,
        vectors: np.ndarray,
        labels: np.ndarray,
        *,
        c: float,
        embedding_model: str,
        weights: np.ndarray | None = None,
    ) -> LinearClassifier:
        """`weights`: per claim (a person's decision weighs `offline.human_weight` silver labels)."""
        from sklearn.linear_model import LogisticRegression

        if len(set(labels.tolist())) < 2:
            # One class only: no boundary to learn; the prior is all the classifier can say.
            prior = (labels.mean() * len(labels) + 1) / (len(labels) + 2)
            return cls(np.zeros(vectors.shape[1]), math.log(prior / (1 - prior)), embedding_model, len(labels))
        model = LogisticRegression(C=c, max_iter=2000)
        model.fit(vectors, labels, sample_weight=weights)
        return cls(model.coef_[0].astype(np.float64), float(model.intercept_[0]), embedding_model, len(labels))

    def to_json(self, evidence: EvidenceWeighing | None = None, record: JudgeRecord | None = None) -> str:
        """The classifier, the weighing of the briefs when there is one, and the record of the fit (its
        Judge version), as one JSON document."""
        payload: dict[str, object] = {
            "embedding_model": self.embedding_model,
            "n_train": self.n_train,
            "intercept": self.intercept,
            "coef": self.coef.tolist(),
        }
        if evidence is not None:
            payload["evidence"] = evidence.to_json()
        if record is not None:
            payload["fit"] = record.to_json()
        return json.dumps(payload)

    @classmethod
    def from_json(cls, text: str) -> LinearClassifier:
        return judge_from_json(text)[0]

    def save(self, path: Path, evidence: EvidenceWeighing | None = None, record: JudgeRecord | None = None) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.to_json(evidence, record), encoding="utf-8")
        tmp.replace(path)  # atomic: a crash mid-write never leaves half a model

    @classmethod
    def load(cls, path: Path) -> LinearClassifier:
        return load_judge_file(path)[0]


def judge_from_json(text: str) -> tuple[LinearClassifier, EvidenceWeighing | None]:
    payload = json.loads(text)
    classifier = LinearClassifier(
        np.asarray(payload["coef"], dtype=np.float64),
        float(payload["intercept"]),
        str(payload["embedding_model"]),
        int(payload["n_train"]),
    )
    evidence = payload.get("evidence")
    return classifier, EvidenceWeighing.from_json(evidence) if evidence else None


def load_judge_file(path: Path) -> tuple[LinearClassifier, EvidenceWeighing | None]:
    if not path.exists():
        raise IndexStateError(f"{path}: the offline judge's classifier is missing; run `claimcourt index FILE` first")
    return judge_from_json(path.read_text(encoding="utf-8"))


def judge_text(store: LabelledStore, path: Path) -> str | None:
    """The Judge's payload as stored (a file beside a folder store, the collection of a server); None
    when nothing has been fitted yet."""
    if store.is_server:
        return store.load_judge()
    return path.read_text(encoding="utf-8") if path.exists() else None


def current_record(store: LabelledStore, path: Path) -> JudgeRecord | None:
    """The record of the Judge fitted now (None: none, or one fitted before versions: version 0)."""
    text = judge_text(store, path)
    return record_of(json.loads(text)) if text else None


def save_classifier(
    classifier: LinearClassifier,
    store: LabelledStore,
    path: Path,
    evidence: EvidenceWeighing | None = None,
    record: JudgeRecord | None = None,
) -> str:
    """A folder store keeps the classifier (and the weighing of the briefs) in a file beside it; a
    server keeps it with the collection, so that workers on other machines read it too. Returns where
    it went."""
    if store.is_server:
        store.save_judge(classifier.to_json(evidence, record))
        return f"{store.where} (collection '{store.collection_name}')"
    classifier.save(path, evidence, record)
    return str(path)


def load_judge(
    store: LabelledStore, path: Path
) -> tuple[LinearClassifier, EvidenceWeighing | None, JudgeRecord | None]:
    """The classifier, the weighing of the briefs, and the record of the fit (None before versions)."""
    if not store.is_server:
        classifier, evidence = load_judge_file(path)
        return classifier, evidence, current_record(store, path)
    payload = store.load_judge()
    if payload is None:
        raise IndexStateError(
            f"{store.where}: the collection '{store.collection_name}' holds no offline judge's classifier; "
            "run `claimcourt index FILE` with this chroma_url first"
        )
    return (*judge_from_json(payload), record_of(json.loads(payload)))


def load_classifier(store: LabelledStore, path: Path) -> LinearClassifier:
    return load_judge(store, path)[0]
