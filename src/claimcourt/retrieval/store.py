"""The Chroma store of labelled claims (cosine space): a folder in the workspace, or a `chroma run`
server shared by workers on several machines (`retrieval.chroma_url`). Both behave the same.

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
from claimcourt.retrieval.chroma_client import ChromaLocation
from claimcourt.state import Neighbour

_CLAIM_NUMBER = re.compile(r"^\s*\d+\s*[.)]\s*")
_SPACE = re.compile(r"\s+")
# Chroma rejects very large single calls; these sizes keep each call well inside its limits.
_WRITE_CHUNK = 2_000
_READ_CHUNK = 5_000
# The collection metadata key that holds the offline judge's classifier when the store is a server
# (a folder keeps it in a file beside the store, as before).
_JUDGE_KEY = "offline_judge"
# Extra neighbours fetched so that dropping the claim itself (and its duplicates) still leaves top_k.
_EXCLUSION_SLACK = 4


def normalise_text(text: str) -> str:
    """Case, spacing and a leading claim number ('1.') do not make a different claim."""
    return _SPACE.sub(" ", _CLAIM_NUMBER.sub("", text)).strip().lower()


def text_key(text: str) -> str:
    return hashlib.sha1(normalise_text(text).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredClaim:
    """`label`: the indexed (silver) label, which a person's decision may outrank (`source`)."""

    id: str
    label: int
    text_key: str
    source: str = "silver"


def _silver_label(meta: dict[str, Any]) -> int:
    """The label the indexed file gave (-1 in a human precedent's metadata: no silver label)."""
    return int(meta.get("silver_label", meta["label"])) if meta.get("source") == "human" else int(meta["label"])


def _neighbour(nid: str, meta: dict[str, Any], document: str | None, similarity: float) -> Neighbour:
    human = meta.get("source") == "human"
    return Neighbour(
        id=nid,
        text=document or "",
        label=int(meta["label"]),
        similarity=similarity,
        source="human" if human else "silver",
        reviewer=str(meta.get("reviewer") or "") or None if human else None,
        decided_in=str(meta.get("run_id") or "") or None if human else None,
    )


class LabelledStore:
    """A Chroma collection of labelled claims with their embeddings, in `path` or on the server at `url`."""

    def __init__(
        self,
        path: Path,
        *,
        collection: str,
        embedding_model: str,
        url: str | None = None,
        timeout_s: float | None = None,
    ) -> None:
        """`timeout_s`: one request to the server at `url` (retrieval.chroma_timeout_s); None, Chroma's
        own (no limit)."""
        self.location = ChromaLocation(path, url, timeout_s)
        self.path = path
        self.collection_name = collection
        self.embedding_model = embedding_model
        self._collection: Any = None

    @property
    def where(self) -> str:
        return self.location.where

    @property
    def is_server(self) -> bool:
        return self.location.is_server

    def reset(self) -> None:
        """Forget the open collection (the folder under it was replaced)."""
        self._collection = None

    @property
    def collection(self) -> Any:
        if self._collection is None:
            client = self.location.open()
            with self.location.errors():
                collection = client.get_or_create_collection(
                    self.collection_name,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={"embedding_model": self.embedding_model},
                    embedding_function=None,
                )
                built_with = (collection.metadata or {}).get("embedding_model")
                if built_with != self.embedding_model and collection.count() > 0:
                    raise IndexStateError(
                        f"{self.where}: the index '{self.collection_name}' was built with embedding model "
                        f"'{built_with}', but this profile uses '{self.embedding_model}'; use another "
                        "--workspace (or retrieval.collection), or re-index with the same model"
                    )
                if built_with != self.embedding_model:
                    collection.modify(metadata={"embedding_model": self.embedding_model})
            self._collection = collection
        return self._collection

    def count(self) -> int:
        collection = self.collection
        with self.location.errors():
            return int(collection.count())

    def require_nonempty(self) -> None:
        """Before a run: the store has labelled claims and can be read (so a damaged store stops the
        run before anything is registered, not at its first neighbour query)."""
        if self.count() == 0:
            raise IndexStateError(
                f"{self.where}: the index of labelled claims is empty; run `claimcourt index FILE` first"
            )
        self.check_readable()

    def check_readable(self) -> None:
        """Read one stored vector and query with it: a damaged database or vector index fails here,
        before anything is written, instead of in the middle of a run."""
        if self.count() == 0:
            return
        one = self._call("get", limit=1, include=["embeddings"])
        self._call("query", query_embeddings=np.asarray(one["embeddings"], dtype=np.float32), n_results=1)

    def save_judge(self, payload: str) -> None:
        """Keep the offline judge's classifier with the collection, so every worker of a shared server
        reads the one fitted on what the server holds."""
        self._call("modify", metadata={"embedding_model": self.embedding_model, _JUDGE_KEY: payload})

    def load_judge(self) -> str | None:
        with self.location.errors():
            client = self.location.open()
            metadata = client.get_collection(self.collection_name, embedding_function=None).metadata or {}
        payload = metadata.get(_JUDGE_KEY)
        return str(payload) if payload is not None else None

    def _call(self, method: str, **kwargs: Any) -> Any:
        """One collection call, its failures turned into one line naming this store."""
        collection = self.collection
        with self.location.errors():
            return getattr(collection, method)(**kwargs)

    def existing(self, ids: Sequence[str]) -> dict[str, StoredClaim]:
        found: dict[str, StoredClaim] = {}
        for start in range(0, len(ids), _READ_CHUNK):
            got = self._call("get", ids=list(ids[start : start + _READ_CHUNK]), include=["metadatas"])
            for claim_id, meta in zip(got["ids"], got["metadatas"], strict=True):
                found[claim_id] = StoredClaim(
                    claim_id, _silver_label(meta), str(meta["text_key"]), str(meta.get("source") or "silver")
                )
        return found

    def entries(self, ids: Sequence[str]) -> dict[str, tuple[dict[str, Any], str, np.ndarray]]:
        """Stored claims by id: metadata, text and embedding (a precedent keeps the vector it has)."""
        got = self._call("get", ids=list(ids), include=["metadatas", "documents", "embeddings"])
        return {
            i: (dict(meta), doc or "", np.asarray(vec, dtype=np.float32))
            for i, meta, doc, vec in zip(got["ids"], got["metadatas"], got["documents"], got["embeddings"], strict=True)
        }

    def write_entry(self, claim_id: str, text: str, metadata: dict[str, Any], embedding: np.ndarray) -> None:
        """One claim with exactly this metadata (a human precedent set or taken back)."""
        self._call("upsert", ids=[claim_id], embeddings=embedding[None, :], documents=[text], metadatas=[metadata])

    def human_precedent_ids(self) -> list[str]:
        """The ids of the claims whose stored label is a person's decision."""
        return list(self._call("get", where={"source": "human"}, include=[])["ids"])

    def delete(self, ids: Sequence[str]) -> None:
        if ids:
            self._call("delete", ids=list(ids))

    def upsert(self, ids: Sequence[str], texts: Sequence[str], labels: Sequence[int], embeddings: np.ndarray) -> None:
        for start in range(0, len(ids), _WRITE_CHUNK):
            stop = start + _WRITE_CHUNK
            self._call(
                "upsert",
                ids=list(ids[start:stop]),
                embeddings=embeddings[start:stop],
                documents=list(texts[start:stop]),
                metadatas=[
                    {"label": int(label), "text_key": text_key(text)}
                    for text, label in zip(texts[start:stop], labels[start:stop], strict=True)
                ],
            )

    def relabel(self, ids: Sequence[str], labels: Sequence[int], keys: Sequence[str]) -> None:
        """Change silver labels without re-embedding (the text did not change). A claim a person decided
        keeps the person's label; its silver label changes underneath."""
        for start in range(0, len(ids), _WRITE_CHUNK):
            stop = start + _WRITE_CHUNK
            part = list(ids[start:stop])
            current = self._call("get", ids=part, include=["metadatas"])
            before = dict(zip(current["ids"], current["metadatas"], strict=True))
            metadatas = []
            for claim_id, label, key in zip(part, labels[start:stop], keys[start:stop], strict=True):
                meta = dict(before.get(claim_id) or {})
                if meta.get("source") == "human":
                    meta["silver_label"] = int(label)
                else:
                    meta = {"label": int(label), "text_key": key}
                metadatas.append(meta)
            self._call("update", ids=part, metadatas=metadatas)

    def all_embeddings(self) -> tuple[np.ndarray, np.ndarray]:
        """Every stored embedding with its label, for fitting the offline judge's classifier."""
        vectors: list[np.ndarray] = []
        labels: list[int] = []
        total = self.count()
        for offset in range(0, total, _READ_CHUNK):
            got = self._call("get", include=["embeddings", "metadatas"], limit=_READ_CHUNK, offset=offset)
            vectors.append(np.asarray(got["embeddings"], dtype=np.float32))
            labels.extend(int(meta["label"]) for meta in got["metadatas"])
        if not vectors:
            return np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64)
        return np.concatenate(vectors), np.asarray(labels, dtype=np.int64)

    def all_claims(self) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
        """Every stored claim: ids, texts, embeddings and labels (the offline Judge is fitted on them)."""
        ids, texts, vectors, labels, _ = self.all_labelled()
        return ids, texts, vectors, labels

    def all_labelled(self) -> tuple[list[str], list[str], np.ndarray, np.ndarray, list[dict[str, Any]]]:
        """`all_claims` and each claim's metadata (which says whether a person decided it, and who)."""
        ids: list[str] = []
        texts: list[str] = []
        vectors: list[np.ndarray] = []
        metas: list[dict[str, Any]] = []
        for offset in range(0, self.count(), _READ_CHUNK):
            got = self._call("get", include=["embeddings", "metadatas", "documents"], limit=_READ_CHUNK, offset=offset)
            ids.extend(got["ids"])
            texts.extend(doc or "" for doc in got["documents"])
            vectors.append(np.asarray(got["embeddings"], dtype=np.float32))
            metas.extend(dict(meta) for meta in got["metadatas"])
        labels = np.asarray([int(meta["label"]) for meta in metas], dtype=np.int64)
        if not vectors:
            return [], [], np.zeros((0, 0), dtype=np.float32), labels, []
        return ids, texts, np.concatenate(vectors), labels, metas

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
        result: dict[str, Any] = self._call(
            "query",
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
            kept.append(_neighbour(nid, meta, document, 1.0 - float(distance)))
            if len(kept) == k:
                break
        return kept
