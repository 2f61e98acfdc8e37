from __future__ import annotations

import shlex
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from claimcourt.cli.common import ConfigOpt, WorkspaceOpt, claimcourt_command, console, settings_from, user_errors
from claimcourt.cli.index import show_report
from claimcourt.cli.run import execute_run, show_summary

DEMO_RUN_ID = "demo"


def example_file(name: str) -> Path:
    return Path(str(resources.files("claimcourt.examples").joinpath(name)))


def demo(
    *,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Results CSV.")] = None,
    workspace: WorkspaceOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Index the bundled labelled claims and debate the bundled batch, offline, on the CPU."""
    from claimcourt.deps import build_deps
    from claimcourt.jobs.index import index_file

    with user_errors():
        settings = settings_from(workspace=workspace, config=config, profile="offline")
        console.rule("[bold]1. index the example labelled claims")
        deps = build_deps(settings)  # one embedder for both steps
        show_report(index_file(example_file("labelled_claims.csv"), settings, search=deps.search))
        console.rule("[bold]2. debate the example batch")
        summary = execute_run(
            settings,
            example_file("batch_claims.csv"),
            run_id=DEMO_RUN_ID,
            output=output,
            limit=None,
            deps=deps,
        )
        show_summary(summary, workspace)
        command = claimcourt_command()
        if command != "claimcourt":
            console.print(
                f"claimcourt is not on this shell's PATH: run the commands above as {command} ..., or activate "
                f"its environment first (source {shlex.quote(str(Path(command).parent / 'activate'))}).",
                highlight=False,
                soft_wrap=True,
            )
