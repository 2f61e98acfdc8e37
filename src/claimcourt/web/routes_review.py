"""The review screen: one claim at a time, leased to the person looking at it, decided
with one key (`1` `0` `a` `s` `n` `u` `?`, the terminal's keys) and saved before the next is shown."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from claimcourt.display import one_line
from claimcourt.errors import ClaimcourtError
from claimcourt.review.policy import choice_for_key, help_lines, key_for, keys_for, label_for, rules_text
from claimcourt.review.records import outcome_said
from claimcourt.state import ClaimState, HumanDecision, utc_now
from claimcourt.vocab import ClaimStatus
from claimcourt.web.desks import OpenDesk
from claimcourt.web.routes_session import claim_field, field, pages_of, posted, review_url, signed_in
from claimcourt.web.views import claim_view, shown_parts

router = APIRouter()
MAX_NOTE = 4000
MAX_SKIPPED = 200


async def _reviewable(desk: Any, claim_id: str, second: bool) -> ClaimState | None:
    if not second:
        state: ClaimState | None = await desk.threads.waiting_state(claim_id)
        return state
    state = await desk.threads.current(claim_id)
    return state if state is not None and state.decided_by == ClaimStatus.HUMAN else None


async def _next_claim(
    open_desk: OpenDesk, reviewer: str, *, second: bool, skipped: list[str], held: str | None
) -> ClaimState | None:
    """The claim this session has on screen while it is still theirs (a reload shows it again), else
    the next one, leased to them."""
    # Second opinions are not exclusive (the desk leases nothing for them): nothing to renew.
    if held and held not in skipped and (second or open_desk.leases.renew(held, reviewer)):
        state = await _reviewable(open_desk.desk, held, second)
        if state is not None:
            return state
    passed = list(skipped)
    while (claim_id := open_desk.leases.take_next(reviewer, second_opinion=second, skip=passed)) is not None:
        state = await _reviewable(open_desk.desk, claim_id, second)
        if state is not None:
            return state
        open_desk.leases.release(claim_id, reviewer)  # decided meanwhile by another process
        passed.append(claim_id)
    return None


@router.get("/runs/{run_id}/review")
async def review(request: Request, run_id: str) -> Response:
    pages = pages_of(request)
    session = pages.session(request)
    reviewer = str(session.get("reviewer") or "")
    if not reviewer:
        return pages.render(request, "signin.html", next=review_url(run_id), run_id=run_id)
    blind, second = bool(session.get("blind")), bool(session.get("second"))
    skipped = list(session.get("skipped", {}).get(run_id, []))
    held = session.get("holding", {}).get(run_id)
    async with pages.desks.use(run_id) as open_desk:
        desk = open_desk.desk
        state = await _next_claim(open_desk, reviewer, second=second, skipped=skipped, held=held)
        if state is not None:  # what the policy lets this reviewer see of the Judge on this claim
            hidden = desk.blind_for(state, requested=blind, reviewer=reviewer)
            situation = desk.situation(state, reviewer, verdict_shown=not hidden)
        counts = desk.ledger.counts(run_id)
        threshold = float(desk.run.threshold or 0.0)
        mine = sum(1 for r in desk.store.active(run_id=run_id) if r.reviewer == reviewer)
    context: dict[str, Any] = {
        "run_id": run_id,
        "counts": counts,
        "mine": mine,
        "blind": blind,
        "second": second,
        "skipped": skipped,
    }
    holding = session.setdefault("holding", {})
    if state is None:
        holding.pop(run_id, None)
        return pages.render(request, "review_done.html", undo=key_for("undo"), **context)
    holding[run_id] = state.claim_id
    return pages.render(
        request,
        "review.html",
        claim=claim_view(state, show_verdict=not hidden),
        threshold=threshold,
        shown_at=utc_now(),
        keys=keys_for("web", verdict_shown=not hidden, blind=blind, decided_blind=situation.decided_blind_before),
        help_keys=help_lines("web"),
        rules=rules_text(),
        **context,
    )


@router.post("/runs/{run_id}/decide")
async def decide(request: Request, run_id: str) -> Response:
    form = await posted(request)
    reviewer = signed_in(request)
    pages = pages_of(request)
    session = pages.session(request)
    blind, second = bool(session.get("blind")), bool(session.get("second"))
    claim_id, key = claim_field(form), field(form, "key", 1)
    note = field(form, "note", MAX_NOTE) or None
    shown_at = field(form, "shown_at", 40) or None
    async with pages.desks.use(run_id) as open_desk:
        desk = open_desk.desk
        if not second and open_desk.leases.holder(claim_id) not in (reviewer, None):
            pages.flash(request, f"claim {one_line(claim_id)} is on another reviewer's screen now", "error")
            return pages.redirect(request, review_url(run_id))
        state = await _reviewable(desk, claim_id, second)
        if state is None and desk.ledger.claim(run_id, claim_id) is None:
            pages.flash(request, f"not saved: run {one_line(run_id)} has no claim {one_line(claim_id)}", "error")
            return pages.redirect(request, review_url(run_id))
        if state is None:
            pages.flash(request, f"claim {one_line(claim_id)} no longer waits for you (decided meanwhile)", "error")
            return pages.redirect(request, review_url(run_id))
        hidden = desk.blind_for(state, requested=blind, reviewer=reviewer)
        try:
            # The policy reads the key; the desk enforces the rules (a note to overrule a Judge you saw...).
            choice, typed = choice_for_key(key)
            label = label_for(choice, typed, desk.situation(state, reviewer, verdict_shown=not hidden))
            outcome = await desk.decide(
                claim_id,
                HumanDecision(label=label, reviewer=reviewer, note=note, verdict_shown=not hidden),
                source="interactive",
                shown=shown_parts(hidden),
                shown_at=shown_at,
                second_opinion=second,
                choice=choice,
            )
        except ClaimcourtError as exc:
            pages.flash(request, f"not saved: {exc.message}", "error")
            return pages.redirect(request, review_url(run_id))
        open_desk.leases.release(claim_id, reviewer)
    session.get("holding", {}).pop(run_id, None)  # decided: no longer on this reviewer's screen
    pages.flash(request, outcome_said(outcome, revealed=hidden), "saved")
    return pages.redirect(request, review_url(run_id))


@router.post("/runs/{run_id}/skip")
async def skip(request: Request, run_id: str) -> Response:
    form = await posted(request)
    reviewer = signed_in(request)
    pages = pages_of(request)
    claim_id = claim_field(form)
    skipped = pages.session(request).setdefault("skipped", {}).setdefault(run_id, [])
    if claim_id and claim_id not in skipped:
        skipped.append(claim_id)
        del skipped[:-MAX_SKIPPED]
    async with pages.desks.use(run_id) as open_desk:
        open_desk.leases.release(claim_id, reviewer)
    pages.flash(request, f"skipped {one_line(claim_id)}: it keeps waiting", "info")
    return pages.redirect(request, review_url(run_id))


@router.post("/runs/{run_id}/undo")
async def undo(request: Request, run_id: str) -> Response:
    form = await posted(request)
    reviewer = signed_in(request)
    pages = pages_of(request)
    current = claim_field(form)
    async with pages.desks.use(run_id) as open_desk:
        try:
            undone = await open_desk.desk.undo_last(reviewer)
        except ClaimcourtError as exc:
            pages.flash(request, f"cannot undo: {exc.message}", "error")
            return pages.redirect(request, review_url(run_id))
        if undone is None:
            pages.flash(request, f"nothing to undo: {one_line(reviewer)} has no decision in this run", "info")
            return pages.redirect(request, review_url(run_id))
        claim_id = undone.review.claim_id
        # The undone claim comes back to this reviewer's screen first, as in the terminal.
        if current and current != claim_id:
            open_desk.leases.release(current, reviewer)
        if open_desk.leases.take(claim_id, reviewer, second_opinion=not undone.review.resumed_thread):
            pages.session(request).setdefault("holding", {})[run_id] = claim_id
    where = "it waits for a person again" if undone.state is not None else "your second opinion is withdrawn"
    pages.flash(request, f"undid your decision on {one_line(claim_id)}: {where}", "info")
    return pages.redirect(request, review_url(run_id))


@router.post("/runs/{run_id}/renew")
async def renew(request: Request, run_id: str) -> Response:
    form = await posted(request)
    reviewer = signed_in(request)
    if pages_of(request).session(request).get("second"):
        return Response(status_code=204)  # second opinions hold no lease
    async with pages_of(request).desks.use(run_id) as open_desk:
        kept = open_desk.leases.renew(claim_field(form), reviewer)
    return Response(status_code=204 if kept else 409)
