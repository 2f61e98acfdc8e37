"""Fitting the offline Judge from everything the labelled store holds: silver labels and people's
decisions (human precedents), a decision weighing `offline.human_weight` silver labels. `claimcourt index`
and `claimcourt learn` both fit through here, and each fit is the next Judge version (`judge_version`).

Three parts are fitted: the embedding classifier and the weighing of the briefs (`offline_fit`), both
weighted, and a recalibration of p_green to the people's labels. The people decide the hardest claims,
and on those they say "not green" far more often than silver does: the base rate they hold there is part
of what the Judge must learn. The recalibration is fitted on the Judge's p_green for the decided claims
with the classifier's part out of fold (as the weighing itself is fitted), so it corrects how the Judge
does on claims it was not fitted on, not how well it remembers them. Per-class recall on those same
decisions is recorded, so a Judge that only learned to say "not green" shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from claimcourt.config import Settings
from claimcourt.models.offline.fit import fit_weighed
from claimcourt.models.offline.payload import LinearClassifier, current_record, save_classifier
from claimcourt.models.offline.version import JudgeRecord, Recalibration, decisions_digest
from claimcourt.retrieval.precedents import human_ids
from claimcourt.retrieval.store import LabelledStore
from claimcourt.state import utc_now
from claimcourt.workspace import WorkspacePaths

# Fewer decisions than this leave p_green as the weighing gives it: two numbers fitted to a handful of
# labels would swing with every decision.
MIN_TO_RECALIBRATE = 10


@dataclass(frozen=True)
class FittedJudge:
    record: JudgeRecord
    where: str  # where the payload went (a file, or the server's collection)
    total: int
    green: int


def _recall(p_green: np.ndarray, labels: np.ndarray, label: int) -> float | None:
    mine = labels == label
    return float(((p_green >= 0.5).astype(int)[mine] == label).mean()) if mine.any() else None


def _evaluate(p_human: np.ndarray, labels: np.ndarray) -> tuple[Recalibration | None, dict[str, float | None]]:
    recal = None
    if len(labels) >= MIN_TO_RECALIBRATE:
        recal = Recalibration.fit(p_human, labels, np.ones(len(labels)))
        p_human = np.asarray([recal.apply(float(p)) for p in p_human])
    figures = {
        "recall_green": _recall(p_human, labels, 1),
        "recall_not_green": _recall(p_human, labels, 0),
        "accuracy": float(((p_human >= 0.5).astype(int) == labels).mean()) if len(labels) else None,
    }
    return recal, figures


def fit_judge(settings: Settings, store: LabelledStore, *, by: str) -> FittedJudge:
    """Fit the next Judge version on what `store` holds now, and save it where the backend reads it."""
    offline = settings.offline
    ids, texts, vectors, labels, metas = store.all_labelled()
    human = human_ids(metas)
    weights = np.where(human, offline.human_weight, 1.0)
    classifier = LinearClassifier.fit(
        vectors, labels, c=offline.lr_c, embedding_model=store.embedding_model, weights=weights
    )
    fitted = fit_weighed(
        ids,
        texts,
        vectors,
        labels,
        weights,
        c=offline.lr_c,
        weighing_c=offline.weighing_c,
        top_k=settings.top_k,
        excerpt_chars=offline.excerpt_chars,
        embedding_model=store.embedding_model,
        keep=human,
    )
    weighing = fitted[0] if fitted is not None else None
    recal: Recalibration | None = None
    figures: dict[str, float | None] = {}
    notes: list[str] = []
    if fitted is not None and human.any():
        weighing_, rows, features = fitted
        decided = human[rows]
        p_human = np.asarray([weighing_.p_green(f) for f in features[decided]])
        recal, figures = _evaluate(p_human, labels[rows][decided])
    elif human.any():
        notes.append("too few labelled claims of one side to weigh the briefs: no recalibration")
    path = WorkspacePaths(settings.workspace).offline_judge(settings.retrieval.collection)
    previous = current_record(store, path)
    record = JudgeRecord(
        version=(previous.version if previous is not None else 0) + 1,
        fitted_at=utc_now(),
        by=by,
        n_silver=int((~human).sum()),
        n_human=int(human.sum()),
        human_weight=offline.human_weight,
        human_ids=tuple(sorted(i for i, h in zip(ids, human, strict=True) if h)),
        decisions_digest=decisions_digest((i, int(y)) for i, y, h in zip(ids, labels, human, strict=True) if h),
        recalibration=recal,
        notes=tuple(notes),
        **figures,
    )
    where = save_classifier(classifier, store, path, weighing, record)
    return FittedJudge(record, where, len(labels), int(labels.sum()))
