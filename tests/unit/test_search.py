from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from claimcourt.retrieval import search as search_module
from claimcourt.retrieval.search import NeighbourSearch, next_piece_size
from claimcourt.state import Neighbour


class CountingEmbedder:
    name = "fake"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)


class EchoStore:
    def __init__(self) -> None:
        self.queries = 0

    def nearest(self, vectors, *, claim_ids, texts, k):  # type: ignore[no-untyped-def]
        self.queries += 1
        return [
            [Neighbour(id=f"n-{cid}", text="", label=1, similarity=float(v[0]))]
            for cid, v in zip(claim_ids, vectors, strict=True)
        ]


def make() -> tuple[NeighbourSearch, CountingEmbedder, EchoStore]:
    embedder, store = CountingEmbedder(), EchoStore()
    return NeighbourSearch(embedder, store, top_k=1), embedder, store  # type: ignore[arg-type]


def test_prefetched_texts_are_embedded_once_in_growing_pieces() -> None:
    search, embedder, _ = make()
    texts = [f"claim {'x' * i}" for i in range(10)]

    async def main() -> list[list[Neighbour]]:
        search.prefetch(texts)
        found = await asyncio.gather(*(search.neighbours(str(i), t) for i, t in enumerate(texts)))
        await search.embedding(texts[0])  # the Judge's second look: no new embedding
        return list(found)

    found = asyncio.run(main())
    assert embedder.calls == [texts[:8], texts[8:]]  # in order, each text once
    assert [f[0].id for f in found] == [f"n-{i}" for i in range(10)]
    assert [f[0].similarity for f in found] == [float(len(t)) for t in texts]


def test_pieces_double_while_quick_and_halve_when_slow() -> None:
    limit = search_module.PIECE_TARGET_S
    assert next_piece_size(8, limit / 4) == 16  # twice the texts would still take at most the limit
    assert next_piece_size(32, limit / 2) == 64
    assert next_piece_size(64, 0.0) == 64  # never above the largest
    assert next_piece_size(16, limit * 0.75) == 16  # doubled, it would take too long
    assert next_piece_size(32, limit * 2) == 16  # too long: halved
    assert next_piece_size(8, limit * 10) == 8  # never below the first


class SlowEmbedder(CountingEmbedder):
    """A CPU's pace: a piece of 8 takes longer than a piece may take to keep doubling."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import time

        time.sleep(search_module.PIECE_TARGET_S * 0.6)
        return super().embed(texts)


def test_a_slow_embedder_keeps_the_pieces_small() -> None:
    # Growing pieces of a slow embedder made claims wait for a whole piece while a server stood idle.
    embedder, store = SlowEmbedder(), EchoStore()
    search = NeighbourSearch(embedder, store, top_k=1)  # type: ignore[arg-type]
    texts = [f"claim {i}" for i in range(20)]

    async def main() -> None:
        task = search.prefetch(texts)
        assert task is not None
        await task

    asyncio.run(main())
    assert embedder.calls == [texts[:8], texts[8:16], texts[16:]]


def test_the_first_piece_is_ready_before_the_rest_are_embedded() -> None:
    embedder, store = ThreadRecordingEmbedder(), EchoStore()
    search = NeighbourSearch(embedder, store, top_k=1)  # type: ignore[arg-type]
    texts = [f"claim {i}" for i in range(100)]

    async def main() -> int:
        task = search.prefetch(texts)
        assert task is not None
        await search.embedding(texts[0])
        pieces_done = len(embedder.calls)
        await task
        return pieces_done

    assert asyncio.run(main()) == 1  # the first claim waited for its piece of 8, not for all 100
    assert [len(c) for c in embedder.calls] == [8, 16, 32, 44]


def test_a_failing_piece_fails_only_the_texts_not_yet_embedded() -> None:
    class FailsSecondCall(CountingEmbedder):
        def embed(self, texts: Sequence[str]) -> np.ndarray:
            if self.calls:
                self.calls.append(list(texts))
                raise RuntimeError("out of memory")
            return super().embed(texts)

    embedder, store = FailsSecondCall(), EchoStore()
    search = NeighbourSearch(embedder, store, top_k=1)  # type: ignore[arg-type]
    texts = [f"claim {i}" for i in range(20)]

    async def main() -> tuple[np.ndarray, BaseException | None]:
        task = search.prefetch(texts)
        assert task is not None
        await task
        first = await search.embedding(texts[0])  # embedded by the first piece: still known
        try:
            await search.embedding(texts[10])
        except RuntimeError as exc:
            return first, exc
        return first, None

    first, error = asyncio.run(main())
    assert first.tolist() == [float(len(texts[0])), 1.0]
    assert isinstance(error, RuntimeError)
    # The first piece's vectors are kept; a text whose piece failed is embedded anew when asked for.
    assert embedder.calls == [texts[:8], texts[8:], [texts[10]]]


def test_without_prefetch_concurrent_claims_share_a_batch() -> None:
    search, embedder, store = make()
    texts = [f"t{i}" for i in range(20)]

    async def main() -> None:
        await asyncio.gather(*(search.neighbours(str(i), t) for i, t in enumerate(texts)))

    asyncio.run(main())
    assert sorted(t for call in embedder.calls for t in call) == sorted(texts)
    assert len(embedder.calls) < 20 and store.queries < 20


def test_a_new_event_loop_starts_with_a_fresh_cache() -> None:
    search, embedder, _ = make()
    asyncio.run(search.neighbours("a", "text"))
    asyncio.run(search.neighbours("a", "text"))  # a second CLI step in the same process
    assert len(embedder.calls) == 2


class ThreadRecordingEmbedder(CountingEmbedder):
    """Slow enough that a second embedding asked meanwhile needs a thread of its own in a pool."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import threading
        import time

        self.threads.add(threading.get_ident())
        time.sleep(0.05)
        return super().embed(texts)


def test_every_embedding_runs_on_one_thread() -> None:
    # Each thread that runs a batch keeps a malloc arena as large as the batch's working memory:
    # embeddings spread over a pool's threads made resident memory grow with the claims debated.
    embedder, store = ThreadRecordingEmbedder(), EchoStore()
    search = NeighbourSearch(embedder, store, top_k=1)  # type: ignore[arg-type]

    async def main() -> None:
        for round_ in range(4):
            batch = [f"claim {round_} {i}" for i in range(8)]
            search.prefetch(batch)
            await asyncio.gather(
                *(search.neighbours(f"{round_}-{i}", t) for i, t in enumerate([*batch, f"late {round_}"]))
            )

    asyncio.run(main())
    assert len(embedder.calls) >= 8  # prefetches and batched embeddings, some at the same time
    assert len(embedder.threads) == 1
