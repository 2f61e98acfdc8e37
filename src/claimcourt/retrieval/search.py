"""Neighbour search for the graph: embed, then query the store, each batched across concurrent claims.

Embedding is the expensive part, so it is batched twice over. Claims that reach `retrieve` together
are embedded in one call (a `MicroBatcher`), and a batch run can `prefetch` the texts of the chunk it
is about to send through the graph, while the graph works on the previous chunk. A prefetch embeds in
pieces, one call per piece and in order, and each piece's vectors are ready as soon as that piece is
done. The first piece is 8 texts; a piece doubles (up to 64) only while a piece twice its size would
still be done within half a second, and halves again when one takes longer. On a GPU the pieces soon
reach 64; on a CPU, where MiniLM embeds some 10 to 20 claims a second and larger pieces save little
(each call of up to 64 texts is padded to its longest text anyway; on 2 shared cores 128 claims took
the same time in pieces of 8 as of 64, within about 10% either way), they stay at 8, so claims become
ready a few at a time: growing pieces of 16 and 32 kept the debates waiting for seconds while a
served model's requests ran dry (benchmarks/endpoint_overhead.py).
Vectors are kept as futures keyed by text, so a claim that reaches `retrieve` before its prefetch
finished waits for it instead of embedding twice, and the offline Judge reuses the vector that
`retrieve` used.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from claimcourt.batching import MicroBatcher
from claimcourt.retrieval.embeddings import SentenceTransformerEmbedder
from claimcourt.retrieval.store import LabelledStore
from claimcourt.state import Neighbour

# A prefetch's first piece, its largest, and how long one piece may take before it stops growing.
FIRST_PIECE = 8
LARGEST_PIECE = 64
PIECE_TARGET_S = 0.5


def next_piece_size(size: int, seconds: float) -> int:
    """The size of the piece after one of `size` texts that took `seconds` to embed: doubled while the
    double would still take at most `PIECE_TARGET_S`, halved when this one took longer than that."""
    if seconds * 2 <= PIECE_TARGET_S:
        return min(size * 2, LARGEST_PIECE)
    if seconds > PIECE_TARGET_S:
        return max(size // 2, FIRST_PIECE)
    return size


def _consume_exception(future: asyncio.Future[np.ndarray]) -> None:
    if not future.cancelled():
        future.exception()


@dataclass(frozen=True)
class _Query:
    claim_id: str
    text: str
    vector: np.ndarray


class NeighbourSearch:
    """`await search.neighbours(claim_id, text)`: the top-k labelled neighbours, never the claim itself."""

    def __init__(
        self,
        embedder: SentenceTransformerEmbedder,
        store: LabelledStore,
        *,
        top_k: int,
        max_batch: int = 64,
        cache_size: int = 8192,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.top_k = top_k
        self._vectors: OrderedDict[str, asyncio.Future[np.ndarray]] = OrderedDict()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cache_size = cache_size
        # One embedding computation at a time: two would fight over the same cores.
        self._compute_lock = threading.Lock()
        # Prefetches run in the order they were asked for (asyncio.Lock is fair; threading.Lock is not).
        self._prefetch_order: asyncio.Lock | None = None
        self._embed_batcher: MicroBatcher[str, np.ndarray] = MicroBatcher(self._embed_batch, max_batch=max_batch)
        # Prefetches embed on the batcher's own thread too: every embedding on one thread (batching.py).
        self._embed_thread = self._embed_batcher.thread
        self._query_batcher: MicroBatcher[_Query, list[Neighbour]] = MicroBatcher(
            self._query_batch, max_batch=max_batch
        )

    @property
    def batch_mean_size(self) -> float:
        return self._query_batcher.stats.mean_size

    def _embed_locked(self, texts: list[str]) -> np.ndarray:
        with self._compute_lock:
            return self.embedder.embed(texts)

    def _embed_timed(self, texts: list[str]) -> tuple[np.ndarray, float]:
        """The vectors and the seconds their computation took (not the wait for the lock)."""
        with self._compute_lock:
            started = time.perf_counter()
            vectors = self.embedder.embed(texts)
            return vectors, time.perf_counter() - started

    def _embed_batch(self, texts: list[str]) -> list[np.ndarray]:
        return list(self._embed_locked(texts))

    def _query_batch(self, queries: list[_Query]) -> list[list[Neighbour]]:
        return self.store.nearest(
            np.stack([q.vector for q in queries]),
            claim_ids=[q.claim_id for q in queries],
            texts=[q.text for q in queries],
            k=self.top_k,
        )

    def _cache_for_this_loop(self) -> OrderedDict[str, asyncio.Future[np.ndarray]]:
        """Futures belong to one event loop; a new `asyncio.run` (the next CLI step) starts afresh."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._vectors = OrderedDict()
            self._prefetch_order = asyncio.Lock()
            self._loop = loop
        return self._vectors

    def _remember(self, text: str, future: asyncio.Future[np.ndarray]) -> None:
        self._vectors[text] = future
        self._vectors.move_to_end(text)
        while len(self._vectors) > self._cache_size:
            oldest = next(iter(self._vectors))
            if not self._vectors[oldest].done():
                break  # never drop a vector someone may still be waiting for
            del self._vectors[oldest]

    def prefetch(self, texts: Iterable[str]) -> asyncio.Task[None] | None:
        """Start embedding `texts` in the background, piece by piece; returns the task (None if all known)."""
        loop = asyncio.get_running_loop()
        cache = self._cache_for_this_loop()
        missing = [t for t in dict.fromkeys(texts) if t not in cache]
        if not missing:
            return None
        futures = {text: loop.create_future() for text in missing}
        for text, future in futures.items():
            self._remember(text, future)
        order = self._prefetch_order
        assert order is not None

        async def compute() -> None:
            try:
                async with order:
                    start, size = 0, FIRST_PIECE
                    while start < len(missing):
                        piece = missing[start : start + size]
                        start += len(piece)
                        # Each piece is its own call on the one embedding thread: claims embedded one
                        # by one (`neighbours`) may take their turn between two pieces.
                        vectors, seconds = await loop.run_in_executor(self._embed_thread, self._embed_timed, piece)
                        for text, vector in zip(piece, vectors, strict=True):
                            if not futures[text].done():
                                futures[text].set_result(vector)
                        size = next_piece_size(size, seconds)
            except BaseException as exc:
                for text, future in futures.items():
                    if future.done():
                        continue
                    if self._vectors.get(text) is future:
                        del self._vectors[text]
                    if isinstance(exc, Exception):
                        future.set_exception(exc)
                        # Claims cancelled meanwhile will never read it; say so to asyncio.
                        future.add_done_callback(_consume_exception)
                    else:
                        future.cancel()  # the run is stopping (Ctrl-C): the waiting claims stop too
                if not isinstance(exc, Exception):
                    raise

        return loop.create_task(compute())

    async def embedding(self, text: str) -> np.ndarray:
        future = self._cache_for_this_loop().get(text)
        if future is None:
            future = asyncio.ensure_future(self._embed_batcher.submit(text))
            self._remember(text, future)
        try:
            # shield: one cancelled claim must not cancel a vector other claims wait for
            return await asyncio.shield(future)
        except Exception:
            self._vectors.pop(text, None)  # a failed embedding is retried next time, not cached
            raise

    async def neighbours(self, claim_id: str, text: str) -> list[Neighbour]:
        vector = await self.embedding(text)
        return await self._query_batcher.submit(_Query(claim_id, text, vector))
