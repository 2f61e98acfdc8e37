"""What the graph's nodes need, built from the settings and passed in as the LangGraph runtime
context. Building it is cheap: models and stores load on first use."""

from __future__ import annotations

from dataclasses import dataclass

from claimcourt.config import Settings
from claimcourt.errors import BackendError
from claimcourt.models.base import DebateBackend
from claimcourt.retrieval.embeddings import shared_embedder
from claimcourt.retrieval.search import NeighbourSearch
from claimcourt.retrieval.store import LabelledStore
from claimcourt.workspace import WorkspacePaths


@dataclass
class Deps:
    settings: Settings
    search: NeighbourSearch
    backend: DebateBackend

    @property
    def threshold(self) -> float:
        return self.settings.threshold

    @property
    def audit_rate(self) -> float:
        return self.settings.audit_rate

    @property
    def audit_seed(self) -> int | None:
        return self.settings.audit_seed


def build_store(settings: Settings) -> LabelledStore:
    return LabelledStore(
        WorkspacePaths(settings.workspace).chroma,
        collection=settings.retrieval.collection,
        embedding_model=settings.embedding_model,
        url=settings.retrieval.chroma_url,
        timeout_s=settings.retrieval.chroma_timeout_s,
    )


def build_search(settings: Settings) -> NeighbourSearch:
    embedder = shared_embedder(settings.embedding_model, settings.retrieval.batch_size)
    return NeighbourSearch(
        embedder,
        build_store(settings),
        top_k=settings.top_k,
        max_batch=settings.retrieval.batch_size,
    )


def build_backend(settings: Settings, search: NeighbourSearch) -> DebateBackend:
    if settings.profile == "offline":
        from claimcourt.models.offline import OfflineBackend

        path = WorkspacePaths(settings.workspace).offline_judge(settings.retrieval.collection)
        return OfflineBackend(settings.offline, search, path)
    if settings.profile == "hf":
        from claimcourt.models.hf import HFBackend

        return HFBackend(settings.hf, claims_at_once=settings.max_concurrency)
    if settings.profile == "endpoint":
        from claimcourt.models.endpoint import EndpointBackend

        return EndpointBackend(settings.endpoint)
    raise BackendError(f"the '{settings.profile}' profile is not available in this build")


def build_deps(settings: Settings) -> Deps:
    search = build_search(settings)
    return Deps(settings=settings, search=search, backend=build_backend(settings, search))
