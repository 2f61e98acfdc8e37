"""The Chroma store of labelled claims, on disk in the workspace (cosine space).

The collection records the embedding model that built it; a query or an upsert with another model is
refused, since vectors from two models are not comparable. Neighbour queries never return the claim
itself: not the same id, and not the same text after normalisation (the same claim under another id).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from claimcourt.errors import IndexStateError
from claimcourt.state import Neighbour

_CLAIM_NUMBER = re.compile(r"^\s*\d+\s*[.)]\s*")
_SPACE = re.compile(r"\s+")
# Chroma rejects very large single calls; these sizes keep each call well inside its limits.
_WRITE_CHUNK = 2_000
_READ_CHUNK = 5_000
# Extra neighbours fetched so that dropping the claim itself (and its duplicates) still leaves top_k.
_EXCLUSION_SLACK = 4


def normalise_text(text: str) -> str:
    """Case, spacing and a leading claim number ('1.') do not make a different claim."""
    return _SPACE.sub(" ", _CLAIM_NUMBER.sub("", text)).strip().lower()


def text_key(text: str) -> str:
    return hashlib.sha1(normalise_text(text).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredClaim:
    id: str
    label: int
    text_key: str


class LabelledStore:
    """A Chroma `PersistentClient` collection of labelled claims with their embeddings."""

    def __init__(self, path: Path, *, collection: str, embedding_model: str) -> None:
        self.path = path
        self.collection_name = collection
        self.embedding_model = embedding_model
        self._collection: Any = None

    def _client(self) -> Any:
        import chromadb

        self.path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(self.path), settings=chromadb.Settings(anonymized_telemetry=False))

    @property
    def collection(self) -> Any:
        if self._collection is None:
            client = self._client()
            collection = client.get_or_create_collection(
                self.collection_name,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"embedding_model": self.embedding_model},
                embedding_function=None,
            )
            built_with = (collection.metadata or {}).get("embedding_model")
            if built_with != self.embedding_model and collection.count() > 0:
                raise IndexStateError(
                    f"{self.path}: the index was built with embedding model '{built_with}', "
                    f"but this profile uses '{self.embedding_model}'; use another --workspace "
                    "or re-index with the same model"
                )
            if built_with != self.embedding_model:
                collection.modify(metadata={"embedding_model": self.embedding_model})
            self._collection = collection
        return self._collection

    def count(self) -> int:
        return int(self.collection.count())

    def require_nonempty(self) -> None:
        if self.count() == 0:
            raise IndexStateError(
                f"{self.path}: the index of labelled claims is empty; run `claimcourt index FILE` first"
            )

    def existing(self, ids: Sequence[str]) -> dict[str, StoredClaim]:
        found: dict[str, StoredClaim] = {}
        for start in range(0, len(ids), _READ_CHUNK):
            got = self.collection.get(ids=list(ids[start : start + _READ_CHUNK]), include=["metadatas"])
            for claim_id, meta in zip(got["ids"], got["metadatas"], strict=True):
                found[claim_id] = StoredClaim(claim_id, int(meta["label"]), str(meta["text_key"]))
        return found

    def upsert(self, ids: Sequence[str], texts: Sequence[str], labels: Sequence[int], embeddings: np.ndarray) -> None:
        for start in range(0, len(ids), _WRITE_CHUNK):
            stop = start + _WRITE_CHUNK
            self.collection.upsert(
                ids=list(ids[start:stop]),
                embeddings=embeddings[start:stop],
                documents=list(texts[start:stop]),
                metadatas=[
                    {"label": int(label), "text_key": text_key(text)}
                    for text, label in zip(texts[start:stop], labels[start:stop], strict=True)
                ],
            )

    def relabel(self, ids: Sequence[str], labels: Sequence[int], keys: Sequence[str]) -> None:
        """Change labels without re-embedding (the text did not change)."""
        for start in range(0, len(ids), _WRITE_CHUNK):
            stop = start + _WRITE_CHUNK
            self.collection.update(
                ids=list(ids[start:stop]),
                metadatas=[
                    {"label": int(label), "text_key": key}
                    for label, key in zip(labels[start:stop], keys[start:stop], strict=True)
                ],
            )

    def all_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """Every stored embedding with its label, for fitting the offline judge's classifier."""
        vectors: list[np.ndarray] = []
        labels: list[int] = []
        total = self.count()
        for offset in range(0, total, _READ_CHUNK):
            got = self.collection.get(include=["embeddings", "metadatas"], limit=_READ_CHUNK, offset=offset)
            vectors.append(np.asarray(got["embeddings"], dtype=np.float32))
            labels.extend(int(meta["label"]) for meta in got["metadatas"])
        if not vectors:
            return np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64)
        return np.concatenate(vectors), np.asarray(labels, dtype=np.int64)

    def all_claims(self) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
        """Every stored claim: ids, texts, embeddings and labels (the offline Judge is fitted on them)."""
        ids: list[str] = []
        texts: list[str] = []
        vectors: list[np.ndarray] = []
        labels: list[int] = []
        for offset in range(0, self.count(), _READ_CHUNK):
            got = self.collection.get(
                include=["embeddings", "metadatas", "documents"], limit=_READ_CHUNK, offset=offset
            )
            ids.extend(got["ids"])
            texts.extend(doc or "" for doc in got["documents"])
            vectors.append(np.asarray(got["embeddings"], dtype=np.float32))
            labels.extend(int(meta["label"]) for meta in got["metadatas"])
        if not vectors:
            return [], [], np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64)
        return ids, texts, np.concatenate(vectors), np.asarray(labels, dtype=np.int64)

    def nearest(
        self,
        embeddings: np.ndarray,
        *,
        claim_ids: Sequence[str],
        texts: Sequence[str],
        k: int,
    ) -> list[list[Neighbour]]:
        """Top-k labelled neighbours of each query, never the query claim itself."""
        total = self.count()
        if total == 0 or len(claim_ids) == 0:
            return [[] for _ in claim_ids]
        wanted = min(total, k + _EXCLUSION_SLACK)
        result = self._query(embeddings, wanted)
        neighbours: list[list[Neighbour]] = []
        for i, (claim_id, text) in enumerate(zip(claim_ids, texts, strict=True)):
            kept = self._exclude_self(result, i, claim_id, text_key(text), k)
            if len(kept) < k and wanted < total:
                # Many copies of this claim in the index: ask again for more.
                single = self._query(embeddings[i : i + 1], total)
                kept = self._exclude_self(single, 0, claim_id, text_key(text), k)
            neighbours.append(kept)
        return neighbours

    def _query(self, embeddings: np.ndarray, n_results: int) -> dict[str, Any]:
        result: dict[str, Any] = self.collection.query(
            query_embeddings=embeddings,
            n_results=n_results,
            include=["distances", "metadatas", "documents"],
        )
        return result

    @staticmethod
    def _exclude_self(result: dict[str, Any], i: int, claim_id: str, key: str, k: int) -> list[Neighbour]:
        kept: list[Neighbour] = []
        for nid, distance, meta, document in zip(
            result["ids"][i],
            result["distances"][i],
            result["metadatas"][i],
            result["documents"][i],
            strict=True,
        ):
            if nid == claim_id or meta.get("text_key") == key:
                continue
            kept.append(
                Neighbour(id=nid, text=document or "", label=int(meta["label"]), similarity=1.0 - float(distance))
            )
            if len(kept) == k:
                break
        return kept
