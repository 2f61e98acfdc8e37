"""Neighbour search for the graph: embed + query, batched across concurrent claims."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from claimcourt.batching import MicroBatcher
from claimcourt.retrieval.embeddings import SentenceTransformerEmbedder
from claimcourt.retrieval.store import LabelledStore
from claimcourt.state import Neighbour


@dataclass(frozen=True)
class _Query:
    claim_id: str
    text: str


class NeighbourSearch:
    """`await search.neighbours(claim_id, text)`: the top-k labelled neighbours, never the claim itself.

    Concurrent calls are embedded and queried as one batch. The claim's embedding is kept in a small
    cache so the offline Judge, which scores the same vector, does not embed the claim twice.
    """

    def __init__(
        self,
        embedder: SentenceTransformerEmbedder,
        store: LabelledStore,
        *,
        top_k: int,
        max_batch: int = 64,
        cache_size: int = 4096,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.top_k = top_k
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._search_batcher: MicroBatcher[_Query, tuple[np.ndarray, list[Neighbour]]] = MicroBatcher(
            self._search_batch, max_batch=max_batch
        )
        self._embed_batcher: MicroBatcher[str, np.ndarray] = MicroBatcher(self._embed_batch, max_batch=max_batch)

    def _remember(self, text: str, vector: np.ndarray) -> None:
        self._cache[text] = vector
        self._cache.move_to_end(text)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)

    def _search_batch(self, queries: list[_Query]) -> list[tuple[np.ndarray, list[Neighbour]]]:
        vectors = self.embedder.embed([q.text for q in queries])
        found = self.store.nearest(
            vectors, claim_ids=[q.claim_id for q in queries], texts=[q.text for q in queries], k=self.top_k
        )
        return list(zip(vectors, found, strict=True))

    def _embed_batch(self, texts: list[str]) -> list[np.ndarray]:
        return list(self.embedder.embed(texts))

    async def neighbours(self, claim_id: str, text: str) -> list[Neighbour]:
        vector, found = await self._search_batcher.submit(_Query(claim_id, text))
        self._remember(text, vector)
        return found

    @property
    def batch_mean_size(self) -> float:
        return self._search_batcher.stats.mean_size

    async def embedding(self, text: str) -> np.ndarray:
        cached = self._cache.get(text)
        if cached is not None:
            return cached
        vector = await self._embed_batcher.submit(text)
        self._remember(text, vector)
        return vector
