from __future__ import annotations

from typing import Any

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from claimcourt.deps import DepsSource
from claimcourt.errors import InputError, ReviewRefused
from claimcourt.state import ClaimState, HumanDecision, ReviewRequest


def review_reason(state: ClaimState, threshold: float, *, verdict_hidden: bool = False) -> str:
    verdict = state.verdict
    if verdict_hidden:
        # Blind: why the claim is here, without the confidence (it is part of the verdict).
        if state.audit:
            return "audit: drawn at random from the claims the Judge would decide alone (reviewed blind)"
        return f"the Judge was not sure enough to decide alone (threshold {threshold:.2f}; reviewed blind)"
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


def await_human(state: ClaimState, runtime: Runtime[DepsSource]) -> dict[str, Any]:
    """Wait for a person. Only the interrupt and pure code live here: on resume this node runs again
    from its start, so anything expensive before `interrupt` would run twice."""
    deps = runtime.context.deps()
    threshold = deps.threshold
    request = ReviewRequest(
        claim_id=state.claim_id,
        run_id=state.run_id,
        reason=review_reason(state, threshold),
        confidence=state.verdict.confidence if state.verdict else 0.0,
        threshold=threshold,
    )
    gate = deps.review_gate
    if gate is None:
        # A review desk (or trace's inline review) shows the claim and applies the policy itself.
        return {"human": HumanDecision.model_validate(interrupt(request.model_dump()))}
    hidden = gate.verdict_hidden(state)
    request = request.model_copy(
        update={
            "text": state.text,
            "neighbours": state.neighbours,
            "advocate": state.advocate,
            "skeptic": state.skeptic,
            "reason": review_reason(state, threshold, verdict_hidden=hidden),
            "confidence": None if hidden else request.confidence,
            "verdict": None if hidden else state.verdict,
            "verdict_hidden": hidden,
        }
    )
    answer = interrupt(request.model_dump(mode="json"))
    while True:
        try:
            return {"human": gate.decide(state, answer, verdict_shown=not hidden)}
        except (InputError, ReviewRefused) as refused:
            # Ask again, saying why: the claim keeps waiting. (Raising would leave the refused answer as the
            # resume value of this interrupt, and every later resume would meet it again.)
            answer = interrupt(request.model_copy(update={"refused": str(refused)}).model_dump(mode="json"))
