"""Who is reviewing: signing in and out, the review mode (blind, second opinion), and what every route
needs from a request (its session's pages, a CSRF-checked form, a signed-in name)."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from claimcourt.display import one_line
from claimcourt.errors import ClaimcourtError
from claimcourt.web.pages import Pages
from claimcourt.web.security import csrf_ok, new_session

router = APIRouter()
MAX_NAME = 80


def pages_of(request: Request) -> Pages:
    pages: Pages = request.app.state.pages
    return pages


async def posted(request: Request) -> FormData:
    """The form of a POST whose CSRF token matches the session's (403 otherwise)."""
    form = await request.form()
    value = form.get("csrf")
    if not csrf_ok(request, pages_of(request).session(request), value if isinstance(value, str) else None):
        raise HTTPException(403, "this form has expired or did not come from this page: reload it and try again")
    return form


def field(form: FormData, name: str, limit: int | None = 200) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def claim_field(form: FormData) -> str:
    """The posted claim id, whole: an id is never cut to a length (a cut id names no claim, or
    another one), only trimmed as the input trims it."""
    return field(form, "claim_id", limit=None)


def review_url(run_id: str) -> str:
    return f"/runs/{quote(run_id, safe='')}/review"


def signed_in(request: Request) -> str:
    reviewer = str(pages_of(request).session(request).get("reviewer") or "")
    if not reviewer:
        raise HTTPException(401, "sign in with your name first")
    return reviewer


@router.post("/signin")
async def sign_in(request: Request) -> Response:
    form = await posted(request)
    pages = pages_of(request)
    name = one_line(field(form, "name", MAX_NAME))
    if not name:
        pages.flash(request, "a name is needed: it is recorded with every decision", "error")
        return pages.redirect(request, "/")
    session = pages.session(request)
    session.update(reviewer=name, blind=form.get("blind") == "on", second=form.get("second") == "on")
    target = field(form, "next", 300)
    return pages.redirect(request, target if target.startswith("/runs/") else "/")


@router.post("/signout")
async def sign_out(request: Request) -> Response:
    await posted(request)
    pages = pages_of(request)
    session = pages.session(request)
    reviewer = str(session.get("reviewer") or "")
    for run_id, claim_id in dict(session.get("holding", {})).items():
        await _give_back(pages, run_id, claim_id, reviewer)
    request.state.session = new_session()
    return pages.redirect(request, "/")


async def _give_back(pages: Pages, run_id: str, claim_id: str, reviewer: str) -> None:
    """Release the claim this session had on screen, so others need not wait for its lease to lapse."""
    try:
        async with pages.desks.use(run_id) as open_desk:
            open_desk.leases.release(claim_id, reviewer)
    except ClaimcourtError:
        pass  # a run no longer served: its leases went with it


@router.post("/runs/{run_id}/mode")
async def set_mode(request: Request, run_id: str) -> Response:
    form = await posted(request)
    signed_in(request)
    pages = pages_of(request)
    session = pages.session(request)
    second = form.get("second") == "on"
    held = session.get("holding", {}).get(run_id)
    if held and second != bool(session.get("second")):
        await _give_back(pages, run_id, held, str(session["reviewer"]))
    session.update(blind=form.get("blind") == "on", second=second)
    session.setdefault("skipped", {}).pop(run_id, None)
    return pages.redirect(request, review_url(run_id))
