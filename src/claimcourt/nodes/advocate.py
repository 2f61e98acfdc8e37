from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from claimcourt.deps import DepsSource
from claimcourt.nodes.timing import timed
from claimcourt.state import ClaimState
from claimcourt.vocab import Node


async def argue_green(state: ClaimState, runtime: Runtime[DepsSource]) -> dict[str, Any]:
    """The Advocate: the case that the claim is green technology."""
    with timed(Node.ADVOCATE) as timing:
        argument = await runtime.context.deps().backend.argue("advocate", state)
    return {"advocate": argument, "timings": timing}
