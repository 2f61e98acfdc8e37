from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from claimcourt.deps import DepsSource
from claimcourt.nodes.timing import timed
from claimcourt.state import ClaimState
from claimcourt.vocab import Node


async def retrieve_neighbours(state: ClaimState, runtime: Runtime[DepsSource]) -> dict[str, Any]:
    """The top-k most similar labelled claims, never the claim itself."""
    with timed(Node.RETRIEVE) as timing:
        neighbours = await runtime.context.deps().search.neighbours(state.claim_id, state.text)
    return {"neighbours": neighbours, "timings": timing}
