from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from claimcourt.deps import Deps
from claimcourt.state import ClaimState, HumanDecision, ReviewRequest


def review_reason(state: ClaimState, threshold: float) -> str:
    verdict = state.verdict
    if state.audit:
        confidence = f" (confidence {verdict.confidence:.2f})" if verdict is not None else ""
        return (
            f"audit: drawn at random from the claims the Judge would decide alone{confidence}, "
            "so that people can check the auto-decided labels"
        )
    if verdict is None or not verdict.readable:
        reason = verdict.unreadable_reason if verdict is not None else None
        return f"the Judge's verdict could not be read: {reason or 'no verdict'}"
    return f"the Judge's confidence {verdict.confidence:.2f} is below the threshold {threshold:.2f}"


def await_human(state: ClaimState, runtime: Runtime[Deps]) -> dict[str, Any]:
    """Wait for a person. Only the interrupt and pure code live here: on resume this node runs again
    from its start, so anything expensive before `interrupt` would run twice."""
    threshold = runtime.context.threshold
    request = ReviewRequest(
        claim_id=state.claim_id,
        run_id=state.run_id,
        reason=review_reason(state, threshold),
        confidence=state.verdict.confidence if state.verdict else 0.0,
        threshold=threshold,
    )
    answer = interrupt(request.model_dump())
    decision = HumanDecision.model_validate(answer)
    return {"human": decision}
