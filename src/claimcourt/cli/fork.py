"""`claimcourt trace CLAIM --fork-at NODE [edits]` and `--fork-id ID`: time travel from the terminal.

The options and what is printed around a fork live here, so that `cli/trace.py` only routes to them.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from claimcourt.cli.common import claimcourt_command
from claimcourt.display import as_text, one_line
from claimcourt.errors import InputError
from claimcourt.vocab import ClaimStatus, ForkPoint

if TYPE_CHECKING:  # the graph and the checkpoints load when a fork is made or read, not for --help
    from claimcourt.config import Settings
    from claimcourt.trace.claim_forks import Fork
    from claimcourt.trace.fork import ForkEdit
    from claimcourt.trace.replay import Trace

ForkAtOpt = Annotated[
    ForkPoint | None,
    typer.Option(
        "--fork-at",
        help="Fork the claim's thread before this node, with the edits below, and run the fork on (a new "
        "thread; the claim's own is not touched).",
    ),
]
DropNeighbourOpt = Annotated[
    list[str] | None,
    typer.Option("--drop-neighbour", help="With --fork-at: remove this neighbour (precedent) by id; repeatable."),
]
AdvocateTextOpt = Annotated[
    str | None, typer.Option("--advocate-text", help="With --fork-at judge or later: the Advocate's argument.")
]
SkepticTextOpt = Annotated[
    str | None, typer.Option("--skeptic-text", help="With --fork-at judge or later: the Skeptic's argument.")
]
ForkIdOpt = Annotated[str | None, typer.Option("--fork-id", help="Replay this fork of the claim (trace lists them).")]


def fork_edit(
    fork_at: str | None, drop_neighbour: list[str] | None, advocate: str | None, skeptic: str | None
) -> ForkEdit:
    from claimcourt.trace.fork import ForkEdit

    edit = ForkEdit(drop_neighbours=tuple(drop_neighbour or ()), advocate=advocate, skeptic=skeptic)
    if fork_at is None and edit != ForkEdit():
        raise InputError("--drop-neighbour, --advocate-text and --skeptic-text edit a fork: give --fork-at NODE too")
    return edit


def forked(
    settings: Settings, claim_id: str, *, run_id: str | None, fork_at: str | None, fork_id: str | None, edit: ForkEdit
) -> Fork:
    """The fork made now (--fork-at), or the one asked for (--fork-id)."""
    from claimcourt.trace.claim_forks import fork_claim, replay_fork

    if fork_at is not None and fork_id is not None:
        raise InputError("give --fork-at (make a fork) or --fork-id (replay one), not both")
    if fork_id is not None:
        fork = asyncio.run(replay_fork(settings, fork_id))
        if fork.trace.claim_id != claim_id:
            raise InputError(f"fork '{fork_id}' is a fork of claim '{fork.trace.claim_id}', not of '{claim_id}'")
        return fork
    assert fork_at is not None
    return asyncio.run(fork_claim(settings, claim_id, run_id=run_id, at=fork_at, edit=edit))


def _verdict(trace: Trace) -> str:
    from claimcourt.trace.render import verdict_line

    verdict = trace.state.verdict
    return verdict_line(verdict.model_dump(mode="json")) if verdict is not None else "no verdict"


def fork_header(fork: Fork) -> Text:
    origin = fork.origin
    return Text("fork ", style="bold magenta") + as_text(
        f"{one_line(origin.thread_id)} of {one_line(origin.source_thread)}, before {origin.at}: {origin.edit}. "
        "The steps before it are the claim's own; the rest ran in the fork."
    )


def fork_outcome_line(fork: Fork) -> str | None:
    """Where the fork ended, where the replay's own line would send a waiting claim to the review queue."""
    if fork.trace.status != ClaimStatus.PENDING_REVIEW:
        return None
    return "the Judge would send this fork to a person (a fork is a what-if: it stays out of the review queue)"


def fork_outcome(settings: Settings, fork: Fork) -> list[Text]:
    """The fork's verdict beside the claim's own."""
    from claimcourt.trace.replay import replay

    own = asyncio.run(replay(settings, fork.trace.claim_id, run_id=fork.trace.run_id))
    again = f"{claimcourt_command()} trace {one_line(fork.trace.claim_id)} --fork-id {one_line(fork.origin.thread_id)}"
    return [
        as_text(f"the claim's own thread: {_verdict(own)}"),
        as_text(f"this fork:              {_verdict(fork.trace)}"),
        as_text(f"Replay it with: {again}"),
    ]


def fork_list(settings: Settings, trace: Trace) -> list[Text]:
    """The forks made of this claim's thread, one line each (none: no line)."""
    from claimcourt.trace.claim_forks import claim_forks

    forks = asyncio.run(claim_forks(settings, trace.claim_id, run_id=trace.run_id))
    lines = [Text(f"forks of this debate ({len(forks)}):", style="bold")] if forks else []
    for fork in forks:
        lines.append(
            as_text(f"  {one_line(fork.origin.thread_id)}: before {fork.origin.at}, {fork.origin.edit} → ")
            + as_text(_verdict(fork.trace))
        )
    return lines
