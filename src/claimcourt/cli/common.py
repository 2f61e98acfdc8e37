"""What every command shares: the options that locate settings, and the error boundary."""

from __future__ import annotations

import os
import shlex
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from claimcourt.display import as_text
from claimcourt.errors import ClaimcourtError
from claimcourt.extras import extra_for, missing
from claimcourt.vocab import Profile

if TYPE_CHECKING:  # the settings (pydantic models) load when a command runs, not for --help
    from claimcourt.config import Settings

console = Console()
err_console = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace directory (default ./.claimcourt, or CLAIMCOURT_WORKSPACE)."),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML settings file (default <workspace>/claimcourt.toml).")
]
StorageOpt = Annotated[
    str | None,
    typer.Option(
        "--storage-url",
        help="Run state in Postgres (postgresql://user@host/db) instead of the workspace's SQLite files "
        "(or CLAIMCOURT_STORAGE_URL).",
    ),
]
ProfileOpt = Annotated[Profile | None, typer.Option("--profile", help="offline | hf | endpoint, or a registered name.")]
ChromaUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--chroma-url",
        help="A `chroma run` server (http://host:8000) instead of the workspace's folder "
        "(or retrieval.chroma_url, CLAIMCOURT_RETRIEVAL__CHROMA_URL).",
    ),
]


class RateColumn(ProgressColumn):
    """Items a second, as rich estimates it over the last half minute; blank until it has a figure."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.1f} {self.unit}" if speed else "", style="progress.data.speed")


def progress_bar(label: str, *extra: ProgressColumn, rate: str | None = None, eta: bool = False) -> Progress:
    """The one look of a progress bar in this CLI: label, bar, n/total, the rate (`rate` names its
    unit), extra columns, elapsed time and, with `eta`, the time left. Transient: it leaves the
    terminal to the summary that follows."""
    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        *([RateColumn(rate)] if rate else []),
        *extra,
        TimeElapsedColumn(),
        *([TextColumn("left"), TimeRemainingColumn()] if eta else []),
        console=console,
        transient=True,
    )


def claimcourt_command() -> str:
    """How to call claimcourt again from a fresh shell, for the commands a hint suggests: `claimcourt`
    when that name on PATH is this program, else the path it was started by (`.venv/bin/claimcourt`
    when the environment is not activated)."""
    invoked = Path(sys.argv[0])
    if invoked.name != "claimcourt":  # python -m claimcourt.cli.app, or a test's runner
        return "claimcourt"
    found = shutil.which("claimcourt")
    if found is not None and Path(found).resolve() == invoked.resolve():
        return "claimcourt"
    return shlex.quote(str(invoked))


def settings_from(*, workspace: Path | None, config: Path | None, profile: str | None = None, **flags: Any) -> Settings:
    from claimcourt.config import load_settings

    return load_settings(config_file=config, overrides={"workspace": workspace, "profile": profile, **flags})


@contextmanager
def user_errors() -> Iterator[None]:
    """The one place a ClaimcourtError becomes a message and an exit code (no traceback)."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError):
            raise  # locked, disk full...: not a damaged file, and not the user's to fix here
        # A page damaged inside a file whose header is sound (workspace.store.sqlite_files.check_sqlite_file passed it).
        from claimcourt.workspace import WorkspacePaths

        layout = WorkspacePaths(Path())
        line = Text("error:", style="bold red") + as_text(
            f" a workspace database is damaged ({exc}): restore {layout.ledger.name} and {layout.checkpoints.name} "
            "from a backup, or move them aside to start afresh"
        )
        err_console.print(line, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except ClaimcourtError as exc:
        # The message names files, ids and values from data: shown as text, never as markup.
        line = Text("error:", style="bold red") + as_text(f" {exc.message}")
        err_console.print(line, highlight=False, soft_wrap=True)
        raise typer.Exit(exc.exit_code) from None


def unexpected_error(exc: Exception) -> int:
    """An exception nothing else handled, as one line (a worker among many must not end in a
    traceback); its exit code. CLAIMCOURT_DEBUG=1 lets the traceback through, for a bug report."""
    if os.environ.get("CLAIMCOURT_DEBUG") == "1":
        raise exc
    if isinstance(exc, ModuleNotFoundError) and (extra := extra_for(exc.name)) is not None:
        # An optional part reached without its extra, on a path that did not check first.
        error = missing(extra, "this command", exc.name)
        err_console.print(
            Text("error:", style="bold red") + as_text(f" {error.message}"), highlight=False, soft_wrap=True
        )
        return error.exit_code
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    line = Text("error:", style="bold red") + as_text(
        f" {type(exc).__name__}{': ' + first if first else ''} (unexpected: run again with CLAIMCOURT_DEBUG=1 "
        "for the traceback and report it)"
    )
    err_console.print(line, highlight=False, soft_wrap=True)
    return 1
