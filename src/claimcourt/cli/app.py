"""`claimcourt`: the console script."""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import typer
from typer import _click as click  # the click that typer vendors (0.29): its groups and commands are these
from typer.core import TyperGroup

from claimcourt import __version__
from claimcourt.cli.common import unexpected_error

# The commands, in the order --help lists them: "name": "module:attribute" (a function, or a Typer of
# subcommands). A command's module loads only when it runs or is listed, so `claimcourt run ...` never
# pays for `serve`'s imports, nor a mistyped option for anything but its own command.
COMMANDS: dict[str, str] = {
    "demo": "claimcourt.cli.demo:demo",
    "index": "claimcourt.cli.index:index",
    "run": "claimcourt.cli.run:run",
    "review": "claimcourt.cli.review:review",
    "pending": "claimcourt.cli.pending:pending",
    "export": "claimcourt.cli.export:export",
    "agreement": "claimcourt.cli.agreement:agreement",
    "eval": "claimcourt.cli.eval:eval_results",
    "calibrate": "claimcourt.cli.calibrate:calibrate",
    "learn": "claimcourt.cli.learn:learn",
    "select": "claimcourt.cli.selection:select",
    "runs": "claimcourt.cli.runs:runs",
    "trace": "claimcourt.cli.trace:trace",
    "serve": "claimcourt.cli.serve:serve",
    "train": "claimcourt.cli.train:train_app",
}


class LazyCommands(TyperGroup):
    """The top-level group: builds a command from `COMMANDS` the first time it is asked for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._built: dict[str, click.Command] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        if cmd_name not in self._built:
            module, attribute = COMMANDS[cmd_name].split(":")
            target = getattr(importlib.import_module(module), attribute)
            if isinstance(target, typer.Typer):
                self._built[cmd_name] = typer.main.get_group(target)
            else:  # a function: typer builds one command from a Typer holding only it
                holder = typer.Typer()
                holder.command(name=cmd_name)(target)
                self._built[cmd_name] = typer.main.get_command(holder)
        return self._built[cmd_name]


app = typer.Typer(
    name="claimcourt",
    help="Label patent claims as green technology (CPC Y02) by debate: Advocate, Skeptic, Judge, and a "
    "person when the Judge is unsure.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=LazyCommands,
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


def main() -> None:
    try:
        app()
    except Exception as exc:  # the process boundary: whatever escaped the commands' own handling
        raise SystemExit(unexpected_error(exc)) from None


if __name__ == "__main__":
    main()
