"""What every route of the review page needs (`Pages`: the desks, the templates, the session cookie) and
where the page keeps its files (`web_dir`). The app and its routes both import this; the routes never
import the app, which includes them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from claimcourt.config import Settings
from claimcourt.web.desks import Desks
from claimcourt.web.security import SESSION_COOKIE, SessionCodec, new_session
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
