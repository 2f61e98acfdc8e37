"""The ASGI app behind `claimcourt serve`: server-rendered pages over the review desk.

`create_app(settings)` builds it; its lifespan opens the desks (one per run, on first use) and closes
them, which also rewrites each changed run's results file. Pages are Jinja2 templates with autoescape
on; the only script is what ships in `static/` (htmx, for partial page updates, and the page's keys).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from claimcourt.config import Settings
from claimcourt.errors import ClaimcourtError
from claimcourt.web.desks import Desks
from claimcourt.web.security import (
    SESSION_COOKIE,
    LoopbackHostsOnly,
    SecurityHeaders,
    SessionCodec,
    TokenGate,
    new_session,
    workspace_secret,
)
from claimcourt.workspace import WorkspacePaths


def web_dir(settings: Settings) -> Path:
    """Under the workspace: the session secret, plots and exports being downloaded."""
    return WorkspacePaths(settings.workspace).web


def _templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("claimcourt.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["q"] = lambda value: quote(str(value), safe="")
    return Jinja2Templates(env=env)


# Browsers keep cookies of up to 4096 bytes (name and value); this leaves room for the name.
MAX_COOKIE = 4000
FLASH_CUT = 600


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda session: session.pop(key, None)


def _cut_flash(session: dict[str, Any]) -> None:
    flash = session.get("flash")
    if flash and len(flash["text"]) > FLASH_CUT:
        flash["text"] = flash["text"][: FLASH_CUT - 1] + "…"


class Pages:
    """What every route needs: the desks, the templates and the session cookie."""

    def __init__(self, settings: Settings, desks: Desks, codec: SessionCodec) -> None:
        self.settings = settings
        self.desks = desks
        self.codec = codec
        self.templates = _templates()

    def session(self, request: Request) -> dict[str, Any]:
        found = getattr(request.state, "session", None)
        if found is None:
            found = self.codec.loads(request.cookies.get(SESSION_COOKIE)) or new_session()
            request.state.session = found
        return found

    def flash(self, request: Request, text: str, kind: str = "info") -> None:
        self.session(request)["flash"] = {"text": text, "kind": kind}

    def _cookie(self, session: dict[str, Any]) -> str:
        """The signed session, made to fit a cookie: a browser silently ignores a cookie over 4096 bytes,
        which would lose the message of a decision (saved, or why not) and leave the old session in
        place. Long claim ids fill it first: the skipped ones go, then the one held on screen (its
        lease stays; a reload takes the next claim), then the message is cut."""
        value = self.codec.dumps(session)
        for shrink in (_drop("skipped"), _drop("holding"), _cut_flash):
            if len(value) <= MAX_COOKIE:
                break
            shrink(session)
            value = self.codec.dumps(session)
        return value

    def _with_session(self, request: Request, response: Response) -> Response:
        response.set_cookie(SESSION_COOKIE, self._cookie(self.session(request)), httponly=True, samesite="strict")
        response.headers["cache-control"] = "no-store"
        return response

    def render(self, request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
        session = self.session(request)
        flash = session.pop("flash", None)
        context = {
            "session": session,
            "reviewer": session.get("reviewer", ""),
            "csrf": session["csrf"],
            "flash": flash,
            "only_run": self.desks.only_run,
            **context,
        }
        response = self.templates.TemplateResponse(request, template, context, status_code=status_code)
        return self._with_session(request, response)

    def redirect(self, request: Request, url: str) -> Response:
        return self._with_session(request, RedirectResponse(url, status_code=303))


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

    from claimcourt.web.routes_browse import router as browse
    from claimcourt.web.routes_review import router as review
    from claimcourt.web.routes_session import router as session

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
