"""Uncertainty sampling: which claims of a pool deserve a debate.

Each claim of the pool gets the offline Judge's p_green and an uncertainty u = 1 - 2|p - 0.5| (1 at
p = 0.5, 0 at p = 0 or 1); the n most uncertain are picked, highest u first, ties in pool order.
With `diverse`, a claim whose cosine similarity to one already picked is above `max_similarity` is
skipped, so that n picks are not n copies of one claim.

The pool is streamed in chunks and never held whole: only a bounded heap of the best candidates is
kept (n of them, or a few times n with `diverse`, since some will be skipped). When the diverse
picks run out of candidates, a second pass embeds just the next most uncertain claims, found from the
u of every claim recorded in the first pass (8 bytes a claim).
"""

from __future__ import annotations

import csv
import heapq
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from claimcourt.csv_cells import spreadsheet_safe
from claimcourt.deps import Deps
from claimcourt.errors import ConfigError
from claimcourt.tables import ClaimRow, ClaimTable

SELECTION_COLUMNS = ("id", "text", "p_green", "u")
CHUNK = 1_024
# With --diverse, how many candidates to keep per wanted claim on the first pass.
DIVERSE_FACTOR = 5


@dataclass(frozen=True)
class ScoredBatch:
    """p_green per claim, and the claims' L2-normalised embeddings (cosine = dot product)."""

    p_green: np.ndarray
    vectors: np.ndarray


class Scorer(Protocol):
    def __call__(self, claims: Sequence[ClaimRow]) -> ScoredBatch: ...


class OfflineJudgeScorer:
    """The offline Judge's p_green for a batch of claims: one embedding pass, one neighbour query,
    then the backend's own estimate from both briefs (`OfflineBackend.estimate`)."""

    def __init__(self, deps: Deps) -> None:
        from claimcourt.models.offline.backend import OfflineBackend

        if not isinstance(deps.backend, OfflineBackend):
            raise ConfigError(
                f"`claimcourt select` scores with the offline Judge, but the '{deps.settings.profile}' profile is "
                "active; use --profile offline"
            )
        deps.search.store.require_nonempty()
        deps.backend.check_ready()
        self.backend = deps.backend
        self.search = deps.search

    def __call__(self, claims: Sequence[ClaimRow]) -> ScoredBatch:
        texts = [c.text for c in claims]
        vectors = self.search.embedder.embed(texts)
        neighbours = self.search.store.nearest(
            vectors, claim_ids=[c.id for c in claims], texts=texts, k=self.search.top_k
        )
        p_green = [
            self.backend.estimate(v, found, *self.backend.briefs(text, found)).p_green
            for v, found, text in zip(vectors, neighbours, texts, strict=True)
        ]
        return ScoredBatch(np.asarray(p_green, dtype=np.float64), vectors)


def uncertainty(p_green: np.ndarray) -> np.ndarray:
    return 1.0 - 2.0 * np.abs(np.asarray(p_green, dtype=np.float64) - 0.5)


@dataclass(frozen=True)
class Candidate:
    position: int  # 0-based position in the pool: the tie-breaker
    id: str
    text: str
    p_green: float
    u: float
    vector: np.ndarray | None = None


@dataclass
class Selection:
    picked: list[Candidate]
    pool_size: int
    skipped_similar: int = 0
    passes: int = 1


class _TopK:
    """The `size` candidates with the highest u (earlier position wins a tie), in bounded memory."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._heap: list[tuple[float, int, Candidate]] = []

    def offer(self, candidate: Candidate) -> None:
        # Min-heap on (u, -position): its root is the worst kept candidate.
        key = (candidate.u, -candidate.position, candidate)
        if len(self._heap) < self.size:
            heapq.heappush(self._heap, key)
        elif key[:2] > self._heap[0][:2]:
            heapq.heapreplace(self._heap, key)

    def best_first(self) -> list[Candidate]:
        return [c for _, _, c in sorted(self._heap, key=lambda item: (-item[0], -item[1]))]


def _scored(
    table: ClaimTable,
    scorer: Scorer,
    *,
    wanted: Callable[[int], object] | None,
    chunk_size: int,
    on_chunk: Callable[[int], None] | None,
) -> Iterator[tuple[int, ClaimRow, float, np.ndarray]]:
    position = 0
    for chunk in table.chunks(chunk_size):
        start = position
        position += len(chunk)
        chosen = [(start + i, c) for i, c in enumerate(chunk) if wanted is None or wanted(start + i)]
        if chosen:
            batch = scorer([c for _, c in chosen])
            for (pos, claim), p, vector in zip(chosen, batch.p_green, batch.vectors, strict=True):
                yield pos, claim, float(p), vector
        if on_chunk is not None:
            on_chunk(position)


def _greedy(candidates: list[Candidate], n: int, max_similarity: float) -> tuple[list[Candidate], int]:
    picked: list[Candidate] = []
    picked_vectors: list[np.ndarray] = []
    skipped = 0
    for candidate in candidates:
        if len(picked) == n:
            break
        assert candidate.vector is not None
        if picked_vectors and float(np.max(np.stack(picked_vectors) @ candidate.vector)) > max_similarity:
            skipped += 1
            continue
        picked.append(candidate)
        picked_vectors.append(candidate.vector)
    return picked, skipped


def select_uncertain(
    table: ClaimTable,
    scorer: Scorer,
    *,
    n: int,
    diverse: bool = False,
    max_similarity: float = 0.95,
    chunk_size: int = CHUNK,
    on_progress: Callable[[int], None] | None = None,
) -> Selection:
    """The n most uncertain claims of the pool (fewer when the pool, or its distinct claims, run out)."""
    if n < 1:
        raise ValueError("n must be at least 1")
    keep = n * DIVERSE_FACTOR if diverse else n
    top = _TopK(keep)
    all_u = array("d")
    for position, claim, p, vector in _scored(table, scorer, wanted=None, chunk_size=chunk_size, on_chunk=on_progress):
        u = float(uncertainty(np.asarray([p]))[0])
        all_u.append(u)
        top.offer(Candidate(position, claim.id, claim.text, p, u, vector if diverse else None))
    pool_size = len(all_u)
    candidates = top.best_first()
    if not diverse:
        return Selection(candidates, pool_size)

    picked, skipped = _greedy(candidates, n, max_similarity)
    passes = 1
    while len(picked) < n and keep < pool_size:
        # Too many near-duplicates among the kept candidates: widen to the next most uncertain claims.
        keep = min(pool_size, keep * 4)
        passes += 1
        u_values = np.frombuffer(all_u, dtype=np.float64)
        order = np.lexsort((np.arange(pool_size), -u_values))[:keep]
        chosen = np.zeros(pool_size, dtype=bool)
        chosen[order] = True
        top = _TopK(keep)
        for position, claim, p, vector in _scored(
            table, scorer, wanted=chosen.__getitem__, chunk_size=chunk_size, on_chunk=None
        ):
            top.offer(Candidate(position, claim.id, claim.text, p, all_u[position], vector))
        picked, skipped = _greedy(top.best_first(), n, max_similarity)
    return Selection(picked, pool_size, skipped_similar=skipped, passes=passes)


def write_selection(path: Path, selection: Selection) -> Path:
    """id, text, p_green, u: a batch file that `claimcourt run` reads as it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(SELECTION_COLUMNS)
        for c in selection.picked:
            writer.writerow([spreadsheet_safe(c.id), spreadsheet_safe(c.text), f"{c.p_green:.6f}", f"{c.u:.6f}"])
    tmp.replace(path)
    return path
