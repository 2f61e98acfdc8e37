from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from claimcourt.deps import Deps
from claimcourt.nodes.timing import timed
from claimcourt.state import ClaimState


async def argue_green(state: ClaimState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """The Advocate: the case that the claim is green technology."""
    with timed("advocate") as timing:
        argument = await runtime.context.backend.argue("advocate", state)
    return {"advocate": argument, "timings": timing}
