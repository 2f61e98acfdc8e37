"""Uncertainty sampling on pools whose probabilities are known (a scripted scorer)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from claimcourt.eval.selection import ScoredBatch, select_uncertain, uncertainty, write_selection
from claimcourt.tables import ClaimRow, ClaimTable
from tests.conftest import write_csv


class ScriptedScorer:
    """p_green per claim id; every claim its own direction unless `vectors` says otherwise."""

    def __init__(self, p_green: dict[str, float], vectors: dict[str, np.ndarray] | None = None, dim: int = 64) -> None:
        self.p_green = p_green
        self.vectors = vectors or {}
        self.dim = dim
        self.batches: list[int] = []
        self.scored: list[str] = []

    def _vector(self, claim_id: str) -> np.ndarray:
        if claim_id in self.vectors:
            return self.vectors[claim_id]
        v = np.zeros(self.dim)
        v[list(self.p_green).index(claim_id) % self.dim] = 1.0
        return v

    def __call__(self, claims: Sequence[ClaimRow]) -> ScoredBatch:
        self.batches.append(len(claims))
        self.scored.extend(c.id for c in claims)
        return ScoredBatch(
            np.array([self.p_green[c.id] for c in claims]), np.stack([self._vector(c.id) for c in claims])
        )


def _pool(tmp_path: Path, ids: list[str]) -> ClaimTable:
    return ClaimTable(write_csv(tmp_path / "pool.csv", [{"id": i, "text": f"claim text {i}"} for i in ids]))


def test_uncertainty_is_one_at_a_coin_flip_and_zero_when_certain() -> None:
    assert uncertainty(np.array([0.5, 0.0, 1.0, 0.25, 0.9])).tolist() == pytest.approx([1.0, 0.0, 0.0, 0.5, 0.2])


def test_picks_the_most_uncertain_highest_first(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ids = [f"{i:05d}" for i in range(200)]
    p = dict(zip(ids, rng.random(200).round(4).tolist(), strict=True))
    scorer = ScriptedScorer(p)
    selection = select_uncertain(_pool(tmp_path, ids), scorer, n=10, chunk_size=16)
    expected = sorted(ids, key=lambda i: (abs(p[i] - 0.5), ids.index(i)))[:10]
    assert [c.id for c in selection.picked] == expected
    assert [c.u for c in selection.picked] == sorted((c.u for c in selection.picked), reverse=True)
    assert selection.picked[0].p_green == p[expected[0]]
    assert selection.pool_size == 200
    # Streamed: the scorer never saw more than a chunk at once, and saw every claim once.
    assert max(scorer.batches) <= 16 and sorted(scorer.scored) == ids


def test_ties_keep_pool_order(tmp_path: Path) -> None:
    ids = ["c", "a", "b", "d"]
    scorer = ScriptedScorer({"c": 0.6, "a": 0.4, "b": 0.6, "d": 0.9})
    picked = select_uncertain(_pool(tmp_path, ids), scorer, n=3, chunk_size=2).picked
    assert [c.id for c in picked] == ["c", "a", "b"]


def test_a_pool_smaller_than_n_gives_all_of_it(tmp_path: Path) -> None:
    picked = select_uncertain(_pool(tmp_path, ["a", "b"]), ScriptedScorer({"a": 0.9, "b": 0.5}), n=5).picked
    assert [c.id for c in picked] == ["b", "a"]


def test_diverse_skips_near_duplicates(tmp_path: Path) -> None:
    ids = ["a", "a-copy", "b", "c", "d"]
    base = np.eye(8)
    near = base[0] + 0.05 * base[1]
    scorer = ScriptedScorer(
        {"a": 0.5, "a-copy": 0.51, "b": 0.55, "c": 0.6, "d": 0.99},
        vectors={"a": base[0], "a-copy": near / np.linalg.norm(near), "b": base[2], "c": base[3], "d": base[4]},
    )
    plain = select_uncertain(_pool(tmp_path, ids), scorer, n=3)
    assert [c.id for c in plain.picked] == ["a", "a-copy", "b"]
    diverse = select_uncertain(_pool(tmp_path, ids), scorer, n=3, diverse=True, max_similarity=0.95)
    assert [c.id for c in diverse.picked] == ["a", "b", "c"]
    assert diverse.skipped_similar == 1
    # A looser notion of duplicate keeps the copy.
    loose = select_uncertain(_pool(tmp_path, ids), scorer, n=3, diverse=True, max_similarity=0.999)
    assert [c.id for c in loose.picked] == ["a", "a-copy", "b"]


def test_diverse_widens_the_search_when_the_kept_candidates_are_all_copies(tmp_path: Path) -> None:
    # n=2 keeps 10 candidates on the first pass; the 12 most uncertain claims are one claim.
    copies = [f"copy{i:02d}" for i in range(12)]
    others = [f"other{i}" for i in range(30)]
    p = {c: 0.5 + i * 0.001 for i, c in enumerate(copies)} | {o: 0.8 + i * 0.005 for i, o in enumerate(others)}
    same = np.eye(64)[0]
    scorer = ScriptedScorer(p, vectors=dict.fromkeys(copies, same))
    selection = select_uncertain(_pool(tmp_path, copies + others), scorer, n=2, diverse=True, chunk_size=8)
    assert [c.id for c in selection.picked] == ["copy00", "other0"]
    assert selection.passes == 2
    assert selection.picked[1].p_green == pytest.approx(0.8)


def test_selection_file_feeds_a_run(tmp_path: Path) -> None:
    scorer = ScriptedScorer({"x1": 0.52, "x2": 0.7})
    selection = select_uncertain(_pool(tmp_path, ["x1", "x2"]), scorer, n=2)
    path = write_selection(tmp_path / "hard.csv", selection)
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["id", "text", "p_green", "u"]
    assert rows[0] == {"id": "x1", "text": "claim text x1", "p_green": "0.520000", "u": "0.960000"}
    assert ClaimTable(path).validate() == 2  # `claimcourt run hard.csv` reads it as it is
