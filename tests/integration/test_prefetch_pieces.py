"""A run's first debates start while the rest of its first chunk is still being embedded (real MiniLM,
real Chroma, the real offline Judge), and embedding in pieces changes no result."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from claimcourt.config import Settings
from claimcourt.deps import Deps, build_backend, build_store
from claimcourt.jobs.runner import Runner
from claimcourt.retrieval import search as search_module
from claimcourt.retrieval.embeddings import shared_embedder
from claimcourt.retrieval.search import NeighbourSearch
from claimcourt.state import Argument, ClaimState, Role, Verdict
from claimcourt.tables import ClaimTable
from tests.conftest import read_csv, write_csv


class TimedEmbedder:
    """The real embedder, recording what each call embedded and when it finished."""

    def __init__(self, settings: Settings) -> None:
        self.inner = shared_embedder(settings.embedding_model, settings.retrieval.batch_size)
        self.name = self.inner.name
        self.calls: list[tuple[list[str], float]] = []

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str], **kwargs: Any) -> np.ndarray:
        vectors = self.inner.embed(texts, **kwargs)
        self.calls.append((list(texts), time.perf_counter()))
        return vectors


class TimedBackend:
    """The real offline backend, recording when each argument was asked for."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.argued: list[float] = []

    def check_ready(self) -> None:
        self.inner.check_ready()

    async def argue(self, role: Role, state: ClaimState) -> Argument:
        self.argued.append(time.perf_counter())
        return await self.inner.argue(role, state)  # type: ignore[no-any-return]

    async def judge(self, state: ClaimState) -> Verdict:
        return await self.inner.judge(state)  # type: ignore[no-any-return]


def timed_run(settings: Settings, batch: Path, run_id: str) -> tuple[list[dict[str, str]], TimedEmbedder, TimedBackend]:
    embedder = TimedEmbedder(settings)
    search = NeighbourSearch(
        embedder,  # type: ignore[arg-type]
        build_store(settings),
        top_k=settings.top_k,
        max_batch=settings.retrieval.batch_size,
    )
    backend = TimedBackend(build_backend(settings, search))
    runner = Runner(settings, deps=Deps(settings, search, backend))  # type: ignore[arg-type]
    summary = asyncio.run(runner.run(ClaimTable(batch), run_id=run_id))
    return read_csv(summary.results_csv), embedder, backend


def finished(embedder: TimedEmbedder, text: str) -> float:
    return next(end for texts, end in embedder.calls if text in texts)


@pytest.fixture
def batch_60(tmp_path: Path, silver_rows: list[dict[str, str]], silver_index_csv: Path) -> Path:
    indexed = {r["id"] for r in read_csv(silver_index_csv)}
    rows = [{"id": r["id"], "text": r["text"]} for r in silver_rows if r["id"] not in indexed][:60]
    return write_csv(tmp_path / "batch60.csv", rows)


def test_the_first_debate_starts_before_the_first_chunk_is_embedded(
    indexed_settings: Settings, batch_60: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [r["text"] for r in read_csv(batch_60)]
    pieces, embedder, backend = timed_run(indexed_settings, batch_60, "pieces")
    sizes = [len(call) for call, _ in embedder.calls]
    assert [t for call, _ in embedder.calls for t in call] == texts  # one chunk, in pieces, in order
    assert sizes[0] == search_module.FIRST_PIECE and len(sizes) > 1
    # Each piece at most twice the one before it (MiniLM on a CPU: 8s; on a GPU they may grow).
    assert all(b <= 2 * a for a, b in itertools.pairwise(sizes)), sizes
    # The first claims were argued over while the chunk's last piece was still being embedded.
    assert min(backend.argued) < finished(embedder, texts[-1])

    # The same run with the chunk embedded in one call: the same claims, order and verdicts.
    monkeypatch.setattr(search_module, "FIRST_PIECE", 10_000)
    whole, embedder, backend = timed_run(indexed_settings, batch_60, "whole")
    assert [len(call) for call, _ in embedder.calls] == [60]
    assert min(backend.argued) > finished(embedder, texts[-1])  # the wait the pieces remove
    assert [r["id"] for r in pieces] == [r["id"] for r in whole] == [r["id"] for r in read_csv(batch_60)]
    for a, b in zip(pieces, whole, strict=True):
        assert (a["label"], a["judge_label"], a["decided_by"], a["neighbour_ids"]) == (
            b["label"],
            b["judge_label"],
            b["decided_by"],
            b["neighbour_ids"],
        )
        assert float(a["p_green"]) == pytest.approx(float(b["p_green"]), abs=1e-5)
