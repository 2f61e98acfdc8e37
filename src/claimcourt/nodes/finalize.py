from __future__ import annotations

from typing import Any

from claimcourt.state import ClaimState
from claimcourt.vocab import ClaimStatus


def finalize_label(state: ClaimState) -> dict[str, Any]:
    """The final label: the person's where one decided, otherwise the Judge's."""
    if state.human is not None:
        return {"final_label": state.human.label, "decided_by": ClaimStatus.HUMAN.value}
    if state.verdict is None or state.verdict.label is None:
        # Routing never sends an unreadable verdict here; refusing beats defaulting to a label.
        raise ValueError(f"claim {state.claim_id}: no readable verdict and no human decision to finalise")
    return {"final_label": state.verdict.label, "decided_by": ClaimStatus.JUDGE.value}
