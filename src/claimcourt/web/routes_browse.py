"""The other pages: runs, the claims of a run (browse, search, revise), agreement with its plots,
and export downloads."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response
from starlette.background import BackgroundTask
from starlette.responses import FileResponse

from claimcourt.display import excerpt, one_line
from claimcourt.errors import ClaimcourtError
from claimcourt.review.agreement import agreement_report
from claimcourt.review.export import GOLD_COLUMNS, gold_rows, write_table
from claimcourt.review.judged import PLOTS, draw, judge_vs_people
from claimcourt.review.policy import decided_claims, export_refusal, label_name
from claimcourt.review.queries import ClaimRow, claim_rows, search_rows, seen_by
from claimcourt.state import HumanDecision
from claimcourt.store import existing_store
from claimcourt.web.pages import web_dir
from claimcourt.web.routes_review import MAX_NOTE
from claimcourt.web.routes_session import claim_field, field, pages_of, posted, signed_in
from claimcourt.web.views import claim_view, review_rows

router = APIRouter()
LIST_LIMIT = 300
# Export downloads by name: the name picks a format and a scope, it is never a path.
EXPORTS = {
    "gold.csv": (".csv", False),
    "gold.parquet": (".parquet", False),
    "gold-human.csv": (".csv", True),
    "gold-human.parquet": (".parquet", True),
}


def _runs(request: Request) -> list[dict[str, Any]]:
    pages = pages_of(request)
    store = existing_store(pages.settings)
    if store is None:
        return []
    try:
        rows = store.ledger.runs()
    finally:
        store.close()
    out = []
    for row in rows:
        if pages.desks.only_run is not None and row.run_id != pages.desks.only_run:
            continue
        total = row.counts.total
        human, judge, waiting = row.counts.human, row.counts.judge, row.counts.pending_review
        out.append(
            {
                "run_id": row.run_id,
                "created_at": (row.run.created_at or "")[:16].replace("T", " "),
                "threshold": row.run.threshold,
                "claims": total,
                "judge": judge,
                "waiting": waiting,
                "human": human,
                "other": total - judge - waiting - human,
                "done_percent": round(100 * (judge + human) / total) if total else 0,
            }
        )
    return out


@router.get("/")
async def runs_page(request: Request) -> Response:
    return pages_of(request).render(request, "runs.html", runs=_runs(request))


@router.get("/runs/{run_id}/claims")
async def claims_page(request: Request, run_id: str) -> Response:
    pages = pages_of(request)
    session = pages.session(request)
    reviewer = str(session.get("reviewer") or "")
    blind = bool(session.get("blind"))
    query = (request.query_params.get("q") or "").strip()[:200]
    status = (request.query_params.get("status") or "").strip()[:40]
    async with pages.desks.use(run_id) as open_desk:
        desk = open_desk.desk
        statuses = {c.claim_id: c.status for c in desk.claims()}
        decided = decided_claims(reviewer, desk.store.reviewers_of(run_id, undone_too=True))
        # The rows as this reviewer may see them: the policy withholds the Judge's verdict and others'
        # labels on claims they have not decided, in a blind session and on blind audits.
        rows = seen_by(
            claim_rows(desk.ledger, desk.store, run_id, reviewer, "file"),
            reviewer,
            blind=blind,
            audit_blind=desk.settings.audit_blind,
            decided=decided,
        )
    rows = [r for r in rows if not status or statuses.get(r.claim_id) == status]
    found = [_listed(row, statuses[row.claim_id], reviewer) for row in (search_rows(rows, query) if query else rows)]
    return pages.render(
        request,
        "claims.html",
        run_id=run_id,
        claims=found[:LIST_LIMIT],
        total=len(found),
        limit=LIST_LIMIT,
        query=query,
        status=status,
        judge_column=not blind,
    )


def _listed(row: ClaimRow, status: str, reviewer: str) -> dict[str, Any]:
    """One line of the claims page, from a row the policy has already filtered."""
    mine = row.mine(reviewer)
    return {
        "claim_id": one_line(row.claim_id),
        "key": row.claim_id,
        "status": status,
        "yours": label_name(mine.label) if mine else "",
        "others": "hidden"
        if row.hidden
        else ", ".join(f"{one_line(r.reviewer)}: {label_name(r.label)}" for r in row.others(reviewer)),
        "judge": "hidden" if row.hidden else (label_name(row.judge_label) if row.judge_label is not None else ""),
        "confidence": row.judge_confidence,
        "text": excerpt(row.text, 160),
    }


@router.get("/runs/{run_id}/claims/{claim_id:path}")
async def claim_page(request: Request, run_id: str, claim_id: str) -> Response:
    pages = pages_of(request)
    session = pages.session(request)
    reviewer = str(session.get("reviewer") or "")
    async with pages.desks.use(run_id) as open_desk:
        desk = open_desk.desk
        claim = desk.ledger.claim(run_id, claim_id)
        state = await desk.threads.current(claim_id) if claim is not None else None
        if claim is None or state is None:
            raise HTTPException(404, "no such claim in this run")
        reviews = desk.store.active(run_id=run_id, claim_id=claim_id)
        holder = open_desk.leases.holder(claim_id)
        # The policy's blind rule: a blind session, or a blind audit, until this reviewer decides it.
        hide = desk.blind_for(state, requested=bool(session.get("blind")), reviewer=reviewer)
    mine = next((r for r in reversed(reviews) if r.reviewer == reviewer), None)
    view = claim_view(state, show_verdict=not hide)
    if hide:  # nor may the others' labels (the final one included) anchor this reviewer
        view.human = None
    view.reviews = review_rows([r for r in reviews if not hide or r.reviewer == reviewer])
    return pages.render(
        request,
        "claim.html",
        run_id=run_id,
        claim=view,
        status=claim.status,
        mine=review_rows([mine])[0] if mine else None,
        on_screen_of=one_line(holder) if holder else "",
        others_hidden=hide,
    )


@router.post("/runs/{run_id}/revise")
async def revise_claim(request: Request, run_id: str) -> Response:
    form = await posted(request)
    reviewer = signed_in(request)
    pages = pages_of(request)
    claim_id = claim_field(form)
    key = field(form, "key", 1)
    note = field(form, "note", MAX_NOTE) or None
    target = f"/runs/{quote(run_id, safe='')}/claims/{quote(claim_id, safe='')}"
    if key not in ("0", "1"):
        pages.flash(request, "revise with 1 (green) or 0 (not green)", "error")
        return pages.redirect(request, target)
    async with pages.desks.use(run_id) as open_desk:
        try:
            await open_desk.desk.revise(
                claim_id,
                HumanDecision(label=int(key), reviewer=reviewer, note=note, verdict_shown=True),
                source="interactive",
                shown=["claim", "neighbours", "advocate", "skeptic", "verdict"],
            )
        except ClaimcourtError as exc:
            pages.flash(request, f"not revised: {exc.message}", "error")
            return pages.redirect(request, target)
    revised = f"revised {one_line(claim_id)} → {label_name(int(key))} (your earlier decision is kept)"
    pages.flash(request, revised, "saved")
    return pages.redirect(request, target)


@router.get("/runs/{run_id}/agreement")
async def agreement_page(request: Request, run_id: str) -> Response:
    pages = pages_of(request)
    async with pages.desks.use(run_id) as open_desk:
        desk = open_desk.desk
        report = agreement_report(desk.store.active(run_id=run_id), history=desk.store.every(run_id=run_id))
        evaluation = judge_vs_people(desk.ledger, run_id)
    return pages.render(
        request,
        "agreement.html",
        run_id=run_id,
        report=report,
        plots=PLOTS if evaluation is not None else (),
        judged=evaluation.n_labelled if evaluation is not None else 0,
    )


@router.get("/runs/{run_id}/plots/{plot}.png")
async def plot_image(request: Request, run_id: str, plot: str) -> Response:
    if plot not in PLOTS:
        raise HTTPException(404, "no such plot")
    pages = pages_of(request)
    async with pages.desks.use(run_id) as open_desk:
        evaluation = judge_vs_people(open_desk.desk.ledger, run_id)
    if evaluation is None:
        raise HTTPException(404, "no claim decided by a person has a verdict yet")
    folder = web_dir(pages.settings) / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        data = draw(evaluation, plot, Path(tmp) / f"{plot}.png").read_bytes()
    return Response(data, media_type="image/png", headers={"cache-control": "no-store"})


def _refuse_export_when_blind(request: Request) -> None:
    refused = export_refusal(blind=bool(pages_of(request).session(request).get("blind")))
    if refused is not None:
        raise HTTPException(403, refused.message)


@router.get("/runs/{run_id}/export")
async def export_page(request: Request, run_id: str) -> Response:
    _refuse_export_when_blind(request)
    pages = pages_of(request)
    async with pages.desks.use(run_id) as open_desk:
        counts = open_desk.desk.ledger.counts(run_id)
    return pages.render(request, "export.html", run_id=run_id, counts=counts, exports=list(EXPORTS))


@router.get("/runs/{run_id}/export/{name}")
async def export_download(request: Request, run_id: str, name: str) -> Response:
    if name not in EXPORTS:
        raise HTTPException(404, f"exports are named {', '.join(EXPORTS)}")
    _refuse_export_when_blind(request)
    suffix, human_only = EXPORTS[name]
    pages = pages_of(request)
    async with pages.desks.use(run_id) as open_desk:
        desk = open_desk.desk
        rows, _ = gold_rows(desk.state_store, run_id, human_only=human_only)
    folder = web_dir(pages.settings) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder))
    path = tmp / f"export{suffix}"
    write_table(path, rows, GOLD_COLUMNS)
    safe_run = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in run_id)[:80] or "run"

    def cleanup() -> None:
        path.unlink(missing_ok=True)
        tmp.rmdir()

    media = "text/csv" if suffix == ".csv" else "application/vnd.apache.parquet"
    return FileResponse(path, media_type=media, filename=f"{safe_run}-{name}", background=BackgroundTask(cleanup))
