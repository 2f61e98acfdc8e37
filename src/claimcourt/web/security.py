"""Who may use the page, and what a request must carry.

- Host: without a token (loopback only), a request must name a loopback host in `Host` (`127.0.0.1`,
  `localhost`, `[::1]`, any port); anything else is refused with 400, so a page that rebinds its own
  name to 127.0.0.1 (DNS rebinding) can neither read nor decide claims through the reviewer's browser.
- Token: when the server was given one (required on any address but loopback), every request carries
  it: the `X-Claimcourt-Token` header or `Authorization: Bearer`, or the cookie set on a first visit with
  `?token=...` (that visit is redirected to the same address without the token in it).
- Session: a signed cookie (HMAC-SHA256 with a secret kept in the workspace, so a restart keeps people
  signed in) holding the reviewer's name, their mode and a per-session CSRF token.
- CSRF: every POST carries the session's token in a `csrf` form field or an `X-CSRF-Token` header.
- Headers: a Content-Security-Policy that lets the page load nothing from anywhere but this server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

SESSION_COOKIE = "claimcourt_session"
TOKEN_COOKIE = "claimcourt_token"
TOKEN_HEADER = "x-claimcourt-token"
CSRF_HEADER = "x-csrf-token"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def loopback_host_header(value: str) -> bool:
    """Whether a `Host` header names this machine by a loopback name: `127.0.0.1`, `localhost` or
    `[::1]`, with or without a port."""
    value = value.strip().lower()
    if value.startswith("["):
        name, bracket, port = value[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            return False
        port = port[1:]
    else:
        name, _, port = value.partition(":")
    if port and not port.isdigit():
        return False
    return bool(name) and is_loopback(name)


def workspace_secret(web_dir: Path) -> bytes:
    """The key that signs session cookies, made once per workspace (readable by its owner only)."""
    path = web_dir / "session-secret"
    if not path.exists():
        web_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


class SessionCodec:
    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def _sign(self, body: bytes) -> str:
        return hmac.new(self.secret, body, hashlib.sha256).hexdigest()

    def dumps(self, session: dict[str, Any]) -> str:
        body = base64.urlsafe_b64encode(json.dumps(session, separators=(",", ":")).encode())
        return body.decode() + "." + self._sign(body)

    def loads(self, cookie: str | None) -> dict[str, Any] | None:
        if not cookie or "." not in cookie:
            return None
        body, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(body.encode())):
            return None
        try:
            value = json.loads(base64.urlsafe_b64decode(body.encode()))
        except (ValueError, UnicodeDecodeError):
            return None
        return value if isinstance(value, dict) else None


def new_session() -> dict[str, Any]:
    return {"csrf": secrets.token_urlsafe(24), "reviewer": "", "blind": False, "second": False}


def csrf_ok(request: Request, session: dict[str, Any], form_value: str | None) -> bool:
    expected = str(session.get("csrf") or "")
    given = form_value or request.headers.get(CSRF_HEADER) or ""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


class TokenGate:
    """ASGI middleware: without the server's token, nothing (not even a stylesheet) is served."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    def _carried(self, request: Request) -> bool:
        assert self.token is not None
        header = request.headers.get(TOKEN_HEADER) or ""
        bearer = request.headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            header = header or bearer[7:]
        cookie = request.cookies.get(TOKEN_COOKIE, "")
        return any(hmac.compare_digest(value.encode(), self.token.encode()) for value in (header, cookie) if value)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.token is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        response: Response
        if self._carried(request):
            await self.app(scope, receive, send)
            return
        given = request.query_params.get("token", "")
        if given and hmac.compare_digest(given.encode(), self.token.encode()):
            # The token moves from the address into a cookie, so it is not left in history or logs.
            kept = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
            response = RedirectResponse(request.url.path + (f"?{kept}" if kept else ""), status_code=303)
            response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
        else:
            response = PlainTextResponse(
                "This claimcourt server needs its access token: open the address you were given, with "
                "?token=... at its end.",
                status_code=401,
            )
        await response(scope, receive, send)


class LoopbackHostsOnly:
    """ASGI middleware for a server without a token: a request naming any host but a loopback one in
    `Host` gets 400, whatever its path or method."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        hosts = [value.decode("latin-1") for key, value in scope.get("headers") or [] if key == b"host"]
        if len(hosts) == 1 and loopback_host_header(hosts[0]):
            await self.app(scope, receive, send)
            return
        response = PlainTextResponse(
            "This claimcourt server answers only to 127.0.0.1, localhost or [::1]: open it by one of those "
            "names (or start it with --token to reach it by another).",
            status_code=400,
        )
        await response(scope, receive, send)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
