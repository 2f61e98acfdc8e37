"""`claimcourt serve` as a user starts it: the checks before it listens, and a real server that wants
its token on every request."""

from __future__ import annotations

import http.cookiejar
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claimcourt.cli.app import app
from tests.browser_support import Server
from tests.web_support import web_ws

__all__ = ["web_ws"]


def status_of(url: str, headers: dict[str, str] | None = None) -> int:
    """The status after redirects, cookies kept between them as a browser would."""
    request = urllib.request.Request(url, headers=headers or {})
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    try:
        with opener.open(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_any_address_but_loopback_needs_a_token(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 2, result.output
    assert "--host 0.0.0.0 is reachable from other machines: give an access token with --token" in " ".join(
        result.output.split()
    )
    assert "Traceback" not in result.output


def test_a_workspace_without_runs_is_one_clear_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--workspace", str(tmp_path / "ws")])
    assert result.exit_code == 2, result.output
    assert "no runs in workspace" in result.output


def test_an_unknown_run_is_refused(web_ws: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--workspace", str(web_ws), "--run-id", "nope"])
    assert result.exit_code == 2, result.output
    assert "unknown run id 'nope'" in result.output


@pytest.mark.slow
def test_a_real_server_with_a_token_refuses_requests_without_it(web_ws: Path) -> None:
    served = Server(web_ws, "--token", "team-secret-1")
    try:
        assert served.url.endswith("/?token=team-secret-1")
        base = served.url.split("?")[0]
        for path in ("", "runs/r1/review", "static/htmx.min.js", "runs/r1/export/gold.csv"):
            assert status_of(base + path) == 401, path
        assert status_of(base, {"X-Claimcourt-Token": "wrong"}) == 401
        assert status_of(base, {"X-Claimcourt-Token": "team-secret-1"}) == 200
        assert status_of(served.url) == 200  # the shared address: redirected, the token now in a cookie
    finally:
        served.close()
    assert "Traceback" not in served.output()
