"""The project's one vocabulary: the graph's nodes, the Judge's routes, where a claim stands, and the
words the command line offers as choices. Defined once, here, where nothing heavy has to load to read
them: `claimcourt --help` builds every option from these without importing the settings or the store.

The names are `StrEnum`s, so each member *is* its string: what the store, the checkpoints, the results
files and the JSON traces hold stays the plain words ("pending_review", "finalize", ...) users see.
Where a value enters a LangGraph channel, pass `.value`: the checkpoint serializer writes an enum member
as its class, and older releases (and other readers of the thread) expect the plain string.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class Node(StrEnum):
    """The debate graph's nodes, in the order a claim meets them (`graph.builder` builds from them)."""

    RETRIEVE = "retrieve"
    ADVOCATE = "advocate"
    SKEPTIC = "skeptic"
    JUDGE = "judge"
    HUMAN_REVIEW = "human_review"
    FINALIZE = "finalize"


# Where the Judge sends a claim: the node after `judge` (see nodes.routing).
Route = Literal[Node.FINALIZE, Node.HUMAN_REVIEW]


class ClaimStatus(StrEnum):
    """Where a claim of a run stands: the ledger's status column, a results row's `decided_by`, what the
    faces count and filter by."""

    QUEUED = "queued"  # not debated yet
    JUDGE = "judge"  # the Judge decided alone
    PENDING_REVIEW = "pending_review"  # waiting for a person
    HUMAN = "human"  # a person decided
    ERROR = "error"  # the debate failed


# What a claim's thread records as `decided_by` once the Judge has spoken (the graph state's field).
DecidedBy = Literal[ClaimStatus.JUDGE, ClaimStatus.PENDING_REVIEW, ClaimStatus.HUMAN]

# The debate is over: the thread holds a verdict (and the claim is never debated again in its run).
FINISHED: frozenset[ClaimStatus] = frozenset({ClaimStatus.JUDGE, ClaimStatus.PENDING_REVIEW, ClaimStatus.HUMAN})
# Still a worker's to debate: never run, or failed (a retry may take it).
TO_DEBATE: frozenset[ClaimStatus] = frozenset({ClaimStatus.QUEUED, ClaimStatus.ERROR})
# Sent to a person by the Judge's route (decided or still waiting).
SENT_TO_A_PERSON: frozenset[ClaimStatus] = frozenset({ClaimStatus.PENDING_REVIEW, ClaimStatus.HUMAN})

# How a person's view names who decided a claim.
DECIDER_NAMES: dict[ClaimStatus, str] = {
    ClaimStatus.JUDGE: "the Judge",
    ClaimStatus.HUMAN: "a person",
    ClaimStatus.PENDING_REVIEW: "nobody yet (waiting for a person)",
}

# How the debaters and the Judge think (see config.Settings.profile): the name of a backend registered in
# `claimcourt.models.registry`, one of the built-ins or one registered beside them.
Profile = str
BuiltInProfile = Literal["offline", "hf", "endpoint"]
BUILT_IN_PROFILES: tuple[BuiltInProfile, ...] = ("offline", "hf", "endpoint")
# The order in which waiting claims are shown to a person (see review.queries).
Order = Literal["confidence", "file"]
# The nodes a claim's thread may be forked before (see trace.fork).
ForkPoint = Literal[Node.ADVOCATE, Node.SKEPTIC, Node.JUDGE, Node.HUMAN_REVIEW, Node.FINALIZE]
