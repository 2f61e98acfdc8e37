"""Fitting the offline Judge at index time: the embedding classifier, then the weighing of the briefs.

The weighing learns from debates of the indexed claims themselves. Each sampled claim gets its top-k
neighbours from the rest of the index (never itself nor a copy of its text, as at run time), the two
offline briefs are written from them exactly as in a run (`offline_brief`), and the classifier's
probability comes from a model fitted without that claim (out-of-fold), so the weighing learns how
far to trust the classifier on claims it has not seen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from claimcourt.models.offline.briefs import offline_brief
from claimcourt.models.offline.evidence import EvidenceWeighing, brief_features
from claimcourt.models.offline.payload import LinearClassifier
from claimcourt.retrieval.store import text_key
from claimcourt.state import Neighbour

# Below this many claims of either label the weighing has too little to learn from; the Judge falls
# back to the kNN + classifier mix.
MIN_PER_LABEL = 10
# Claims debated to fit the weighing; a larger index is sampled (seeded), since nine weights need no
# more, and each sampled claim's neighbour search reads the whole index.
MAX_FIT_CLAIMS = 5_000
_FOLDS = 5
_QUERY_CHUNK = 512


def _out_of_fold(
    vectors: np.ndarray, labels: np.ndarray, weights: np.ndarray, *, c: float, embedding_model: str, seed: int
) -> np.ndarray:
    from sklearn.model_selection import StratifiedKFold

    p = np.zeros(len(labels), dtype=np.float64)
    for train, held in StratifiedKFold(_FOLDS, shuffle=True, random_state=seed).split(vectors, labels):
        model = LinearClassifier.fit(
            vectors[train], labels[train], c=c, embedding_model=embedding_model, weights=weights[train]
        )
        p[held] = [model.p_green(v) for v in vectors[held]]
    return p


def _neighbours_within(
    rows: np.ndarray, ids: Sequence[str], texts: Sequence[str], vectors: np.ndarray, labels: np.ndarray, k: int
) -> list[list[Neighbour]]:
    """Top-k cosine neighbours of each of `rows` among all claims, never the claim or a copy of its text."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    keys = [text_key(t) for t in texts]
    found: list[list[Neighbour]] = []
    for start in range(0, len(rows), _QUERY_CHUNK):
        part = rows[start : start + _QUERY_CHUNK]
        sims = unit[part] @ unit.T
        wanted = min(len(ids), k + 8)
        top = np.argpartition(-sims, wanted - 1, axis=1)[:, :wanted]
        for r, row in enumerate(part):
            order = top[r][np.argsort(-sims[r, top[r]])]
            kept = [
                Neighbour(id=ids[j], text=texts[j], label=int(labels[j]), similarity=float(sims[r, j]))
                for j in order
                if j != row and keys[j] != keys[row]
            ]
            found.append(kept[:k])
    return found


def fit_weighing(
    ids: Sequence[str],
    texts: Sequence[str],
    vectors: np.ndarray,
    labels: np.ndarray,
    *,
    c: float,
    weighing_c: float,
    top_k: int,
    excerpt_chars: int,
    embedding_model: str,
    seed: int = 0,
) -> EvidenceWeighing | None:
    """The weighing of the briefs, or None when the index is too small or one-sided to learn it."""
    fitted = fit_weighed(
        ids,
        texts,
        vectors,
        labels,
        np.ones(len(labels)),
        c=c,
        weighing_c=weighing_c,
        top_k=top_k,
        excerpt_chars=excerpt_chars,
        embedding_model=embedding_model,
        seed=seed,
    )
    return fitted[0] if fitted is not None else None


def fit_weighed(
    ids: Sequence[str],
    texts: Sequence[str],
    vectors: np.ndarray,
    labels: np.ndarray,
    weights: np.ndarray,
    *,
    c: float,
    weighing_c: float,
    top_k: int,
    excerpt_chars: int,
    embedding_model: str,
    seed: int = 0,
    keep: np.ndarray | None = None,
) -> tuple[EvidenceWeighing, np.ndarray, np.ndarray] | None:
    """`fit_weighing` with a weight per claim; also returns the rows it debated and their features
    (the classifier's part out of fold), so `learn` can see how the Judge does on claims it was not
    fitted on. `keep`: rows always debated, whatever the sampling of a large index (people's decisions)."""
    if min(int(labels.sum()), int(len(labels) - labels.sum())) < MIN_PER_LABEL:
        return None
    rng = np.random.default_rng(seed)
    rows = np.arange(len(labels))
    if len(rows) > MAX_FIT_CLAIMS:
        rows = np.sort(rng.choice(rows, size=MAX_FIT_CLAIMS, replace=False))
        if keep is not None:
            rows = np.union1d(rows, np.flatnonzero(keep))
    p_oof = _out_of_fold(vectors[rows], labels[rows], weights[rows], c=c, embedding_model=embedding_model, seed=seed)
    features = []
    for row, p, neighbours in zip(
        rows, p_oof, _neighbours_within(rows, ids, texts, vectors, labels, top_k), strict=True
    ):
        text = texts[int(row)]
        advocate = offline_brief("advocate", text, neighbours, excerpt_chars)
        skeptic = offline_brief("skeptic", text, neighbours, excerpt_chars)
        features.append(brief_features(float(p), neighbours, advocate, skeptic))
    matrix = np.asarray(features)
    weighing = EvidenceWeighing.fit(matrix, labels[rows], c=weighing_c, top_k=top_k, weights=weights[rows])
    return weighing, rows, matrix
