"""The ASGI app behind `claimcourt serve`: server-rendered pages over the review desk.

`create_app(settings)` builds it; its lifespan opens the desks (one per run, on first use) and closes
them, which also rewrites each changed run's results file. Pages are Jinja2 templates with autoescape
on; the only script is what ships in `static/` (htmx, for partial page updates, and the page's keys).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from claimcourt.config import Settings
from claimcourt.errors import ClaimcourtError
from claimcourt.web.desks import Desks
from claimcourt.web.pages import Pages, web_dir
from claimcourt.web.routes_browse import router as browse
from claimcourt.web.routes_review import router as review
from claimcourt.web.routes_session import router as session
from claimcourt.web.security import LoopbackHostsOnly, SecurityHeaders, SessionCodec, TokenGate, workspace_secret


def create_app(settings: Settings, *, only_run: str | None = None, token: str | None = None) -> Any:
    """The app; wrapped in the token gate when a token is given, else served to loopback names only
    (the CLI refuses an address but loopback without a token)."""
    desks = Desks(settings, only_run=only_run)
    pages = Pages(settings, desks, SessionCodec(workspace_secret(web_dir(settings))))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await desks.aclose()

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.pages = pages
    static = resources.files("claimcourt.web").joinpath("static")
    app.mount("/static", StaticFiles(directory=str(static)), name="static")

    app.include_router(session)
    app.include_router(review)
    app.include_router(browse)

    @app.exception_handler(ClaimcourtError)
    async def user_error(request: Request, exc: ClaimcourtError) -> Response:
        return pages.render(request, "error.html", status_code=400, message=exc.message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) and exc.detail != "Not Found" else "There is no such page."
        return pages.render(request, "error.html", status_code=exc.status_code, message=message)

    if token is None:
        return LoopbackHostsOnly(SecurityHeaders(app))
    return TokenGate(SecurityHeaders(app), token)
