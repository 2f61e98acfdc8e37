from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from claimcourt.deps import DepsSource
from claimcourt.nodes.timing import timed
from claimcourt.state import ClaimState
from claimcourt.vocab import Node


async def argue_not_green(state: ClaimState, runtime: Runtime[DepsSource]) -> dict[str, Any]:
    """The Skeptic: the case that the claim is not green, or only green in its wording."""
    with timed(Node.SKEPTIC) as timing:
        argument = await runtime.context.deps().backend.argue("skeptic", state)
    return {"skeptic": argument, "timings": timing}
