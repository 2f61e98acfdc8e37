from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime

from claimcourt.deps import DepsSource
from claimcourt.nodes.routing import is_audited, route_with_audit
from claimcourt.nodes.timing import timed
from claimcourt.state import ClaimState
from claimcourt.vocab import ClaimStatus, Node


async def judge_claim(state: ClaimState, runtime: Runtime[DepsSource]) -> dict[str, Any]:
    """The Judge's verdict, and where the claim goes next (recorded so a trace can show it)."""
    deps = runtime.context.deps()
    with timed(Node.JUDGE) as timing:
        verdict = await deps.backend.judge(state)
    if deps.rejudging:
        verdict = verdict.model_copy(update={"rejudged": True})
    audited = is_audited(deps.audit_seed, state.claim_id, deps.audit_rate)
    route, audit = route_with_audit(verdict, deps.threshold, audited=audited)
    return {
        "verdict": verdict,
        "route": route.value,
        "audit": audit,
        "decided_by": (ClaimStatus.JUDGE if route == Node.FINALIZE else ClaimStatus.PENDING_REVIEW).value,
        "timings": timing,
    }
