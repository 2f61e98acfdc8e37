"""The graph state and its pieces.

Everything here is a pydantic model of str/int/float/bool/list/dict, so any checkpointer can store it,
a trace can print it, and a results row can be read off it. `SERDE_ALLOWLIST` names these classes for
LangGraph's msgpack serializer, which refuses unknown classes by default in future versions.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from claimcourt.vocab import DecidedBy, Route

Role = Literal["advocate", "skeptic"]  # the debaters: each speaks in its own node
# Where a labelled claim's label comes from: the indexed (silver) file, or a person's decision in a run.
PrecedentSource = Literal["silver", "human"]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def merge_dicts(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Reducer for keys written by parallel nodes (advocate and skeptic both record a timing)."""
    return {**(left or {}), **(right or {})}


class _Model(BaseModel):
    # Enum fields hold their plain string: a checkpoint stores what older releases stored (see vocab).
    model_config = ConfigDict(extra="forbid", use_enum_values=True)


class Neighbour(_Model):
    """A labelled claim similar to the one on trial."""

    id: str
    text: str
    label: int = Field(ge=0, le=1)
    similarity: float
    # A person's decision outranks the silver label of the same claim (`retrieval.precedents`).
    source: PrecedentSource = "silver"
    reviewer: str | None = None
    decided_in: str | None = None  # the run whose review decided it

    @property
    def provenance(self) -> str:
        """How every view names a human precedent ('' for a silver one): the debaters cite it so too."""
        if self.source != "human":
            return ""
        return f"human precedent, decided by {self.reviewer or 'a reviewer'} in run {self.decided_in or '?'}"

    @property
    def named(self) -> str:
        """The id as briefs, prompts and views cite it: a human precedent says so."""
        return f"{self.id} [{self.provenance}]" if self.provenance else self.id


class Argument(_Model):
    """What the Advocate or the Skeptic said."""

    role: Role
    text: str
    # Y02 cues found in the claim (offline briefs); empty for LLM arguments.
    cues: list[str] = Field(default_factory=list)
    # Ids of the neighbours the argument leans on.
    cited: list[str] = Field(default_factory=list)
    backend: str = ""
    prompt: str | None = None
    claim_truncated: bool = False


class Verdict(_Model):
    """The Judge's decision. `label`/`p_green` are None only when the verdict could not be read."""

    label: int | None = Field(default=None, ge=0, le=1)
    p_green: float | None = Field(default=None, ge=0.0, le=1.0)
    confidence: float = Field(ge=0.0, le=1.0)
    rationale: str = ""
    method: str = ""
    readable: bool = True
    # Why the verdict could not be read (a person decides instead; it is never defaulted).
    unreadable_reason: str | None = None
    # Components of p_green, for the trace (e.g. {"knn": 0.8, "logreg": 0.7}).
    components: dict[str, float] = Field(default_factory=dict)
    prompt: str | None = None
    claim_truncated: bool = False
    # Which fit of the offline Judge gave it (`claimcourt learn` makes a new one); None for other Judges.
    judge_version: int | None = None
    # Set when `learn --rejudge` gave this verdict to a claim that was waiting for a person.
    rejudged: bool = False

    @classmethod
    def from_p_green(cls, p_green: float, **fields: Any) -> Verdict:
        return cls(label=int(p_green >= 0.5), p_green=p_green, confidence=max(p_green, 1.0 - p_green), **fields)


class ReviewRequest(_Model):
    """The payload of the `human_review` interrupt: what a reviewer needs to decide."""

    claim_id: str
    run_id: str
    reason: str
    # None where the review policy hides the verdict (its confidence is part of it).
    confidence: float | None
    threshold: float
    # Filled where the interrupt itself is the reviewer's screen (the LangGraph server, through a review
    # gate): the claim, its precedents, both arguments, and the verdict unless the policy hides it.
    text: str | None = None
    neighbours: list[Neighbour] | None = None
    advocate: Argument | None = None
    skeptic: Argument | None = None
    verdict: Verdict | None = None
    verdict_hidden: bool | None = None
    # Why the last answer to this interrupt was refused (the review policy, or not a decision at all).
    refused: str | None = None


class HumanDecision(_Model):
    """A person's decision, the resume value of the `human_review` interrupt."""

    label: int = Field(ge=0, le=1)
    reviewer: str | None = None
    note: str | None = None
    # Whether the person saw the Judge's verdict before deciding (blind review records False).
    verdict_shown: bool = True
    decided_at: str = Field(default_factory=utc_now)


class ClaimState(_Model):
    """One claim's debate: the state of one LangGraph thread (`<run_id>:<claim_id>`)."""

    claim_id: str
    text: str
    run_id: str = ""
    neighbours: list[Neighbour] = Field(default_factory=list)
    advocate: Argument | None = None
    skeptic: Argument | None = None
    verdict: Verdict | None = None
    route: Route | None = None
    # Sent to a person by the audit draw although the Judge was sure enough to decide alone
    # (`nodes.routing.is_audited`); reviewed blind by default.
    audit: bool = False
    human: HumanDecision | None = None
    final_label: int | None = None
    decided_by: DecidedBy | None = None
    # node -> {"started_at": iso, "duration_ms": float}
    timings: Annotated[dict[str, dict[str, Any]], merge_dicts] = Field(default_factory=dict)


SERDE_ALLOWLIST: list[tuple[str, str]] = [
    (__name__, cls.__name__) for cls in (Neighbour, Argument, Verdict, ReviewRequest, HumanDecision, ClaimState)
]


def _escape_id(value: str) -> str:
    # '%' first, so an escaped ':' can never be read back as a literal one.
    return value.replace("%", "%25").replace(":", "%3A")


def thread_id(run_id: str, claim_id: str) -> str:
    """`<run_id>:<claim_id>` with '%' and ':' inside either id escaped (%25, %3A): injective, so two
    claims never share a thread, and unchanged for ids without those characters (older workspaces
    keep their threads; `claimcourt.store.schema` migrates the others)."""
    return f"{_escape_id(run_id)}:{_escape_id(claim_id)}"


def claim_id_of(thread: str) -> str:
    """The claim id of a `thread_id`: its part after the first ':', unescaped in one pass."""
    escaped = thread.split(":", 1)[1]
    return re.sub("%(25|3A)", lambda m: "%" if m.group(1) == "25" else ":", escaped)


def legacy_thread_id(run_id: str, claim_id: str) -> str:
    """The thread id of releases before schema 2, which two claims could share (run `p` claim `q:1`
    and run `p:q` claim `1`)."""
    return f"{run_id}:{claim_id}"
