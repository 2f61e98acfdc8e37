"""The debate graph.

            +-> advocate --+
retrieve ---|              |--> judge --(confidence >= threshold)--> finalize --> END
            +-> skeptic ---+         \\--(confidence <  threshold)--> human_review (interrupt) --> finalize
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from claimcourt.deps import Deps, DepsSource
from claimcourt.nodes.advocate import argue_green
from claimcourt.nodes.finalize import finalize_label
from claimcourt.nodes.human_review import await_human
from claimcourt.nodes.judge import judge_claim
from claimcourt.nodes.retrieve import retrieve_neighbours
from claimcourt.nodes.routing import after_judge
from claimcourt.nodes.skeptic import argue_not_green
from claimcourt.state import ClaimState
from claimcourt.vocab import Node

# The graph's node table: what runs at each node of the vocabulary (`vocab.Node`), which the trace's
# per-node table (`trace.nodes.TRACED`) follows too.
NODES: dict[Node, Any] = {
    Node.RETRIEVE: retrieve_neighbours,
    Node.ADVOCATE: argue_green,
    Node.SKEPTIC: argue_not_green,
    Node.JUDGE: judge_claim,
    Node.HUMAN_REVIEW: await_human,
    Node.FINALIZE: finalize_label,
}


def build_graph(checkpointer: Any = None, *, context_schema: type[DepsSource] = Deps) -> Any:
    """Compile a fresh graph; the dependencies come in per call as the runtime context: `Deps` itself,
    or (the LangGraph server) a JSON context of `context_schema` that builds them (`claimcourt.server`)."""
    # Plain strings for LangGraph: a node's name lands in its checkpoints, which must read as they did.
    retrieve, advocate, skeptic = Node.RETRIEVE.value, Node.ADVOCATE.value, Node.SKEPTIC.value
    judge, human_review, finalize = Node.JUDGE.value, Node.HUMAN_REVIEW.value, Node.FINALIZE.value
    builder = StateGraph(ClaimState, context_schema=context_schema)
    for node, action in NODES.items():
        builder.add_node(node.value, action)
    builder.add_edge(START, retrieve)
    builder.add_edge(retrieve, advocate)
    builder.add_edge(retrieve, skeptic)
    # Both debaters run in the step after `retrieve`, so `judge` runs once, in the step after both, by
    # the plain edges: the LangGraph server (langgraph-api 0.16) reads a join's checkpoint back with
    # nothing due next, which broke forking before `judge` there. The join stays as well, so that a thread
    # stopped between the debaters and the Judge by an earlier release (which had only the join) still
    # runs its Judge when the run is resumed; a node runs once per step however many edges trigger it.
    builder.add_edge(advocate, judge)
    builder.add_edge(skeptic, judge)
    builder.add_edge([advocate, skeptic], judge)
    builder.add_conditional_edges(judge, after_judge, [finalize, human_review])
    builder.add_edge(human_review, finalize)
    builder.add_edge(finalize, END)
    return builder.compile(checkpointer=checkpointer)
