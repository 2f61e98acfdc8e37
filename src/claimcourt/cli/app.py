"""`claimcourt`: the console script."""

from __future__ import annotations

import typer

from claimcourt.cli.calibrate import calibrate
from claimcourt.cli.demo import demo
from claimcourt.cli.eval import eval_results
from claimcourt.cli.index import index
from claimcourt.cli.review import agreement, export, pending, review
from claimcourt.cli.run import run
from claimcourt.cli.runs import runs
from claimcourt.cli.selection import select
from claimcourt.cli.trace import trace

app = typer.Typer(
    name="claimcourt",
    help="Label patent claims as green technology (CPC Y02) by debate: Advocate, Skeptic, Judge, and a "
    "person when the Judge is unsure.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
