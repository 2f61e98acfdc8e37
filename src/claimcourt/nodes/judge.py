from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from claimcourt.deps import Deps
from claimcourt.graph.routing import choose_route
from claimcourt.nodes.timing import timed
from claimcourt.state import ClaimState


async def judge_claim(state: ClaimState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """The Judge's verdict, and where the claim goes next (recorded so a trace can show it)."""
    with timed("judge") as timing:
        verdict = await runtime.context.backend.judge(state)
    route = choose_route(verdict, runtime.context.threshold)
    return {
        "verdict": verdict,
        "route": route,
        "decided_by": "judge" if route == "finalize" else "pending_review",
        "timings": timing,
    }
