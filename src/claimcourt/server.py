"""The debate graph for `langgraph dev` and the LangGraph Agent Server (see `langgraph.json`).

The server brings its own checkpointer and sends each run a JSON context, so the graph is compiled here
without one (the CLI keeps its own path, with the SQLite or Postgres saver), from the same definition
(`graph.builder.build_graph`), with a context schema per profile: one assistant per profile. The heavy
dependencies (the embedder and the labelled store, the backend and its models) are built server-side
from that small context, once per process, and shared by every run that asks for the same settings.

The Advocate's, the Skeptic's and the Judge's templates are fields of the context, marked for Studio
(`langgraph_nodes`, `langgraph_type: "prompt"`), so they can be edited on the graph's nodes; they default
to today's (`prompts.roles`). A run with edited templates gets a backend of its own that shares the
search and, for hf, the loaded models.

A claim the Judge is unsure of stops at the `human_review` interrupt with what a reviewer needs in its
payload; the resume value (`ServedDecision`) goes through the review policy (`review.policy`) and is
recorded in the workspace's reviews table with its reviewer, as a decision made in the terminal app is.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

from claimcourt.config import Settings, load_settings
from claimcourt.deps import Deps, build_backend, build_search
from claimcourt.errors import ConfigError
from claimcourt.eval.calibrations import resolve_threshold
from claimcourt.graph.builder import build_graph
from claimcourt.models.base import DebateBackend
from claimcourt.prompts import roles
from claimcourt.prompts.roles import RolePrompts
from claimcourt.retrieval.search import NeighbourSearch
from claimcourt.served_reviews import ServedReviews

__all__ = ["EndpointContext", "HFContext", "OfflineContext", "endpoint_graph", "hf_graph", "offline_graph"]

_STRICT = ConfigDict(extra="forbid")


def _prompt(role: str, default: str, what: str) -> Any:
    return Field(
        default=default,
        description=what,
        json_schema_extra={"langgraph_nodes": [role], "langgraph_type": "prompt"},
    )


@pydantic_dataclass(config=_STRICT)
class ServedContext:
    """What a run on the server says about itself: JSON only; `deps()` builds the rest."""

    profile: ClassVar[str] = "offline"

    workspace: str | None = Field(
        None,
        description="the claimcourt workspace (index, runs, reviews); default: CLAIMCOURT_WORKSPACE or ./.claimcourt",
    )
    chroma_url: str | None = Field(
        None, description="a Chroma server holding the labelled claims, instead of the folder"
    )
    config_file: str | None = Field(None, description="a claimcourt TOML file (models, endpoint, top-k...)")
    threshold: float | None = Field(
        None, ge=0.0, le=1.0, description="Judge confidence below this goes to a person (default: the settings')"
    )
    run_id: str = Field(
        "langgraph", min_length=1, description="the run reviews are recorded under when a claim's input names none"
    )
    blind: bool = Field(False, description="hide the Judge's verdict from the reviewer (blind review)")

    def prompts(self) -> RolePrompts:
        return roles.default_prompts(self.profile)

    def __post_init__(self) -> None:
        # Refused when the context is read, so the run fails at once naming the template; a ValueError,
        # whose message the server passes on to the client (it hides other errors' messages).
        try:
            self.prompts().checked(self.profile)
        except ConfigError as exc:
            raise ValueError(exc.message) from None

    def settings(self) -> Settings:
        overrides = {
            "workspace": self.workspace,
            "profile": self.profile,
            "threshold": self.threshold,
            "retrieval": {"chroma_url": self.chroma_url},
        }
        config_file = Path(self.config_file) if self.config_file else None
        return resolve_threshold(load_settings(config_file=config_file, overrides=overrides))

    def deps(self) -> Deps:
        # One run's nodes share one context object: built once per run, from the process's cache.
        built: Deps | None = self.__dict__.get("_deps")
        if built is None:
            settings = self.settings()
            search, backend = _CACHE.parts(settings, self.prompts())
            built = Deps(settings, search, backend, review_gate=ServedReviews(settings, self.run_id, blind=self.blind))
            self.__dict__["_deps"] = built
        return built


@pydantic_dataclass(config=_STRICT)
class OfflineContext(ServedContext):
    profile: ClassVar[str] = "offline"

    advocate_prompt: str = _prompt(
        "advocate", roles.OFFLINE.advocate, "the Advocate's brief: {precedents} (green ones), {cues} (Y02 cues)"
    )
    skeptic_prompt: str = _prompt(
        "skeptic", roles.OFFLINE.skeptic, "the Skeptic's brief: {precedents} (not-green ones), {cue_assessment}"
    )

    def prompts(self) -> RolePrompts:
        return RolePrompts(advocate=self.advocate_prompt, skeptic=self.skeptic_prompt, judge=None)


@pydantic_dataclass(config=_STRICT)
class _ModelContext(ServedContext):
    advocate_prompt: str = _prompt(
        "advocate", roles.LLM.advocate, "the Advocate's task, after the precedents and the claim; {words}: its length"
    )
    skeptic_prompt: str = _prompt(
        "skeptic", roles.LLM.skeptic, "the Skeptic's task, after the precedents and the claim; {words}: its length"
    )
    judge_prompt: str = _prompt(
        "judge",
        roles.LLM.judge or "",
        "the first line of the Judge's instruction format (the adapter was trained on it)",
    )

    def prompts(self) -> RolePrompts:
        return RolePrompts(advocate=self.advocate_prompt, skeptic=self.skeptic_prompt, judge=self.judge_prompt)


@pydantic_dataclass(config=_STRICT)
class HFContext(_ModelContext):
    profile: ClassVar[str] = "hf"


@pydantic_dataclass(config=_STRICT)
class EndpointContext(_ModelContext):
    profile: ClassVar[str] = "endpoint"


class _PartsCache:
    """The heavy dependencies of this process, by settings: built on a run's first need, then shared."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._search: dict[str, NeighbourSearch] = {}
        self._backends: dict[tuple[str, RolePrompts], DebateBackend] = {}
        self._hf_models: dict[str, Any] = {}

    def parts(self, settings: Settings, prompts: RolePrompts) -> tuple[NeighbourSearch, DebateBackend]:
        # The threshold and the audit draw are read per run from Deps.settings; they build nothing.
        key = settings.model_dump_json(exclude={"threshold", "calibration", "audit_rate", "audit_seed"})
        with self._lock:
            search = self._search.get(key)
            if search is None:
                search = self._search[key] = build_search(settings)
            backend = self._backends.get((key, prompts))
            if backend is None:
                backend = build_backend(settings, search, prompts, hf_models=self._hf_registry(settings))
                backend.check_ready()
                self._backends[(key, prompts)] = backend
        return search, backend

    def _hf_registry(self, settings: Settings) -> Any:
        if settings.profile != "hf":
            return None
        from claimcourt.models.hf.loading import ModelRegistry

        key = settings.hf.model_dump_json()
        if key not in self._hf_models:
            self._hf_models[key] = ModelRegistry(settings.hf)
        return self._hf_models[key]


_CACHE = _PartsCache()


def _factory(context: type[ServedContext]) -> Callable[[], Any]:
    def make_graph() -> Any:
        return build_graph(context_schema=context)

    make_graph.__name__ = f"{context.profile}_graph"
    make_graph.__doc__ = f"The debate graph with the {context.profile} profile, compiled for the server."
    return make_graph


# The graph factories `langgraph.json` names (one graph, hence one default assistant, per profile).
offline_graph = _factory(OfflineContext)
hf_graph = _factory(HFContext)
endpoint_graph = _factory(EndpointContext)
