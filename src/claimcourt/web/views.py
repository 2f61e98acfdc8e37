"""What the templates show, computed from the desk's records: plain values (the templates escape them)
and the one piece of HTML we build ourselves, the claim with its cues marked."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from claimcourt.display import excerpt, one_line, visible
from claimcourt.models.cues import find_cues
from claimcourt.review.policy import label_name
from claimcourt.review.records import default_shown
from claimcourt.state import ClaimState
from claimcourt.store import Review
from claimcourt.web.highlight import highlighted

EXCERPT_CHARS = 320


def shown_parts(blind: bool) -> list[str]:
    """What the review screen had on it (recorded with the decision)."""
    return list(default_shown(not blind))


@dataclass
class ClaimView:
    # `claim_id` is for showing; `key` is the id itself, for forms and addresses (escaped there).
    claim_id: str
    key: str
    text_html: Markup
    words: int
    cues: list[str]
    neighbours: list[dict[str, Any]]
    advocate: str
    skeptic: str
    # None when hidden (blind review) or missing; see `verdict_note`.
    verdict: dict[str, Any] | None
    verdict_note: str
    human: dict[str, Any] | None = None
    reviews: list[dict[str, Any]] = field(default_factory=list)


def claim_view(state: ClaimState, *, show_verdict: bool) -> ClaimView:
    verdict: dict[str, Any] | None = None
    note = ""
    v = state.verdict
    if not show_verdict:
        note = "hidden until you decide (blind review): decide from the claim and the evidence"
    elif v is None or not v.readable or v.label is None:
        reason = v.unreadable_reason if v is not None else "no verdict"
        note = f"the Judge's verdict could not be read ({visible(reason)}): the decision is yours"
    else:
        verdict = {
            "label": v.label,
            "name": label_name(v.label),
            "confidence": v.confidence,
            "percent": round(v.confidence * 100),
            "rationale": visible(v.rationale),
        }
    human = None
    if state.human is not None:
        human = {
            "label": state.human.label,
            "name": label_name(state.human.label),
            "reviewer": one_line(state.human.reviewer),
            "note": visible(state.human.note),
            "decided_at": state.human.decided_at,
        }
    return ClaimView(
        claim_id=one_line(state.claim_id),
        key=state.claim_id,
        text_html=highlighted(state.text),
        words=len(state.text.split()),
        cues=[m.describe() for m in find_cues(state.text)],
        neighbours=[
            {
                "id": one_line(n.id),
                "provenance": one_line(n.provenance),
                "label": n.label,
                "name": label_name(n.label),
                "similarity": n.similarity,
                "text": excerpt(n.text, EXCERPT_CHARS),
            }
            for n in state.neighbours
        ],
        advocate=visible(state.advocate.text) if state.advocate else "",
        skeptic=visible(state.skeptic.text) if state.skeptic else "",
        verdict=verdict,
        verdict_note=note,
        human=human,
    )


def review_rows(reviews: list[Review]) -> list[dict[str, Any]]:
    return [
        {
            "reviewer": one_line(r.reviewer),
            "name": label_name(r.label),
            "label": r.label,
            "kind": r.kind,
            "note": visible(r.note),
            "blind": not r.verdict_shown,
            "decided_at": r.decided_at,
            "source": r.source,
        }
        for r in reviews
    ]
