"""A person's decision made through the LangGraph server: the review gate of `claimcourt.server`.

There is no review desk between the server and the thread: the `human_review` node hands the resume
value here. It must be a `ServedDecision`; the review policy (`review.policy`) decides whether it may be
recorded and what it records (the label an `accept` stands for, whether the verdict counts as shown),
and the decision goes into the workspace's reviews table (source "server", its reviewer, the server
thread as its session) before the node returns it to the thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from claimcourt.config import Settings
from claimcourt.errors import InputError
from claimcourt.review.policy import Choice, check_decision, recorded_shown, verdict_hidden
from claimcourt.review.records import review_row, situation_of
from claimcourt.state import ClaimState, HumanDecision
from claimcourt.store import Review, open_store


class ServedDecision(BaseModel):
    """The resume value of the `human_review` interrupt on the server:
    `Command(resume={"reviewer": "ann", "label": 1, "note": "..."})`, or `{"reviewer": "ann", "choice":
    "accept"}` to take the Judge's label where its verdict was shown."""

    model_config = ConfigDict(extra="forbid")

    reviewer: str = Field(min_length=1)
    label: int | None = Field(None, ge=0, le=1)
    choice: Choice = "label"
    note: str | None = None


def _one_line(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "value"
    return f"{where}: {first.get('msg', 'invalid')}"


@dataclass(frozen=True)
class ServedReviews:
    """The review policy and the reviews table, for decisions resumed through the server."""

    settings: Settings
    # The run a decision is recorded under when the claim's input names none.
    run_id: str
    blind: bool = False

    def verdict_hidden(self, state: ClaimState) -> bool:
        # Who will decide is known only at the resume: the verdict is hidden from whoever it may be.
        return verdict_hidden(
            blind=self.blind, audit=state.audit, audit_blind=self.settings.audit_blind, decided_by_them=False
        )

    def decide(self, state: ClaimState, answer: Any, *, verdict_shown: bool) -> HumanDecision:
        try:
            served = ServedDecision.model_validate(answer)
        except ValidationError as exc:
            raise InputError(
                f"claim '{state.claim_id}': the resume value is not a decision ({_one_line(exc)})"
            ) from exc
        from langgraph.config import get_config

        session = f"langgraph:{get_config()['configurable']['thread_id']}"
        run_id = state.run_id or self.run_id  # the claim's own run, as its thread names it
        with open_store(self.settings) as store:
            history = store.reviews.history(run_id=run_id, claim_id=state.claim_id)
            # This node runs again if the run stopped after the decision was recorded: the same decision.
            recorded = _recorded(history, session, served.reviewer)
            if recorded is not None:
                return HumanDecision(
                    label=recorded.label,
                    reviewer=recorded.reviewer,
                    note=recorded.note,
                    verdict_shown=recorded.verdict_shown,
                    decided_at=recorded.decided_at,
                )
            situation = situation_of(state, history, served.reviewer, verdict_shown=verdict_shown)
            label = check_decision(served.choice, served.label, served.note, situation)
            decision = HumanDecision(
                label=label, reviewer=served.reviewer, note=served.note, verdict_shown=recorded_shown(situation)
            )
            store.reviews.add(
                review_row(
                    state,
                    decision,
                    run_id=run_id,
                    session_id=session,
                    resumed=True,
                    source="server",
                    shown=None,
                    shown_at=None,
                )
            )
        return decision


def _recorded(history: list[Review], session: str, reviewer: str) -> Review | None:
    return next(
        (r for r in history if r.session_id == session and r.reviewer == reviewer and r.undone_at is None), None
    )
