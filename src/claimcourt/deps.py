"""What the graph's nodes need, built from the settings and passed in as the LangGraph runtime
context. Building it is cheap: models and stores load on first use.

A node reads its dependencies with `runtime.context.deps()`: the CLI passes a `Deps` itself (live
objects), the LangGraph server passes a small JSON context (`claimcourt.server.ServedContext`) whose
`deps()` builds them server-side, once per process. One graph definition serves both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from claimcourt.config import Settings
from claimcourt.models.base import DebateBackend
from claimcourt.models.registry import registered_backend
from claimcourt.prompts.roles import RolePrompts, default_prompts
from claimcourt.retrieval.embeddings import shared_embedder
from claimcourt.retrieval.search import NeighbourSearch
from claimcourt.retrieval.store import LabelledStore
from claimcourt.state import ClaimState, HumanDecision
from claimcourt.workspace import WorkspacePaths


class ReviewGate(Protocol):
    """Where no review desk stands between a person and the thread (the LangGraph server), the
    `human_review` node asks this what the person may see and hands it the resume value: it applies the
    review policy and records the decision."""

    def verdict_hidden(self, state: ClaimState) -> bool: ...

    def decide(self, state: ClaimState, answer: Any, *, verdict_shown: bool) -> HumanDecision: ...


@dataclass
class Deps:
    settings: Settings
    search: NeighbourSearch
    backend: DebateBackend
    # None on the CLI's paths: the review desk applies the policy and records decisions there.
    review_gate: ReviewGate | None = None
    # `learn --rejudge`: the verdict is marked as given to a claim that was waiting for a person.
    rejudging: bool = False

    def deps(self) -> Deps:
        return self

    @property
    def threshold(self) -> float:
        return self.settings.threshold

    @property
    def audit_rate(self) -> float:
        return self.settings.audit_rate

    @property
    def audit_seed(self) -> int | None:
        return self.settings.audit_seed


class DepsSource(Protocol):
    """A graph run's context: `Deps`, or a JSON context that builds them (`claimcourt.server`). A
    dataclass either way, as LangGraph wants of a context schema."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    def deps(self) -> Deps: ...


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


def build_backend(
    settings: Settings, search: NeighbourSearch, prompts: RolePrompts | None = None, *, hf_models: Any = None
) -> DebateBackend:
    """The profile's backend. `prompts`: the roles' templates (by default today's, `prompts.roles`);
    `hf_models`: an hf `ModelRegistry` to share, so that backends differing only in prompts load the
    models once."""
    backend = registered_backend(settings.profile)
    prompts = (prompts or default_prompts(backend.prompts_like)).checked(backend.prompts_like)
    return backend.factory(settings, search, prompts, hf_models=hf_models)


def build_deps(settings: Settings) -> Deps:
    search = build_search(settings)
    return Deps(settings=settings, search=search, backend=build_backend(settings, search))
