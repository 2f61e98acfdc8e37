"""`claimcourt serve`: the review page in a browser, for a team."""

from __future__ import annotations

import socket
from typing import Annotated
from urllib.parse import quote

import typer

from claimcourt.cli.common import ConfigOpt, WorkspaceOpt, console, settings_from, user_errors
from claimcourt.errors import ConfigError, RunStateError


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})") from exc
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(
    *,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; anything but loopback needs --token.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on (0: any free port).", min=0, max=65535)] = 8765,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Serve only this run (default: every run).")] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="CLAIMCOURT_SERVE_TOKEN",
            help="Access token every request must carry (required off loopback; or CLAIMCOURT_SERVE_TOKEN).",
            show_envvar=False,
        ),
    ] = None,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Serve the review page in a browser: several reviewers at once, each claim leased to one of them."""
    from claimcourt.extras import require
    from claimcourt.store import existing_store

    with user_errors():
        require("web", "claimcourt serve")
        from claimcourt.web.security import is_loopback

        settings = settings_from(workspace=workspace, config=config)
        token = (token or "").strip() or None
        if not is_loopback(host) and token is None:
            raise ConfigError(
                f"--host {host} is reachable from other machines: give an access token with --token "
                "(or CLAIMCOURT_SERVE_TOKEN), and share it with the reviewers"
            )
        store = existing_store(settings)
        if store is None:
            raise RunStateError(f"no runs in workspace {settings.workspace} (run a batch first)")
        try:
            if run_id is not None:
                store.ledger.run(run_id)
        finally:
            store.close()
        sock = _bind(host, port)

    import uvicorn

    from claimcourt.web.app import create_app

    bound = sock.getsockname()[1]
    shown_host = f"[{host}]" if ":" in host else host
    address = f"http://{shown_host}:{bound}/" + (f"?token={quote(token, safe='')}" if token else "")
    console.print(f"claimcourt review page at [bold]{address}[/] (Ctrl-C to stop)", highlight=False, soft_wrap=True)
    app = create_app(settings, only_run=run_id, token=token)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    server.run(sockets=[sock])
