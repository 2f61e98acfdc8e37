"""`claimcourt`: the console script."""

from __future__ import annotations

from typing import Annotated

import typer

from claimcourt import __version__
from claimcourt.cli.agreement import agreement
from claimcourt.cli.calibrate import calibrate
from claimcourt.cli.common import unexpected_error
from claimcourt.cli.demo import demo
from claimcourt.cli.eval import eval_results
from claimcourt.cli.export import export
from claimcourt.cli.index import index
from claimcourt.cli.pending import pending
from claimcourt.cli.review import review
from claimcourt.cli.run import run
from claimcourt.cli.runs import runs
from claimcourt.cli.selection import select
from claimcourt.cli.serve import serve
from claimcourt.cli.trace import trace
from claimcourt.cli.train import train_app

app = typer.Typer(
    name="claimcourt",
    help="Label patent claims as green technology (CPC Y02) by debate: Advocate, Skeptic, Judge, and a "
    "person when the Judge is unsure.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"claimcourt {__version__}")
        raise typer.Exit()


@app.callback()
def options(
    version: Annotated[
        bool, typer.Option("--version", callback=show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Label patent claims as green technology (CPC Y02) by debate."""


app.command()(demo)
app.command()(index)
app.command()(run)
app.command()(review)
app.command()(pending)
app.command()(export)
app.command()(agreement)
app.command(name="eval")(eval_results)
app.command()(calibrate)
app.command()(select)
app.command()(runs)
app.command()(trace)
app.command()(serve)
app.add_typer(train_app)


def main() -> None:
    try:
        app()
    except Exception as exc:  # the process boundary: whatever escaped the commands' own handling
        raise SystemExit(unexpected_error(exc)) from None


if __name__ == "__main__":
    main()
