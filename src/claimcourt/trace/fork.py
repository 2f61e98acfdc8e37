"""Time travel: a claim's thread forked before one of its nodes, with the state edited there (a precedent
removed, an argument replaced), and run on from that point.

A fork is a new thread; the claim's own thread is never touched. The fork holds the original's steps up
to the chosen node (copied, not run again), then the edit, then the graph runs on: the Judge weighs
again what it is given now. Where the fork came from is recorded with it: in the metadata of its
checkpoints (`claimcourt_fork_of`, `claimcourt_fork_at`, `claimcourt_fork_edit`) on the CLI's
checkpointer, in the thread's metadata on the LangGraph server. Either way the fork is written as
"copy, then update the state as the node that ran last before the chosen one", which is LangGraph's own
time travel (`update_state` on a past checkpoint), on a thread of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict

from claimcourt.errors import InputError, RunStateError
from claimcourt.state import ClaimState
from claimcourt.vocab import ForkPoint, Node  # defined where trace's --fork-at reads it cheaply

FORK_POINTS: tuple[str, ...] = get_args(ForkPoint)
# After these the debaters do not argue again, so an argument edited there is what the Judge reads.
_AFTER_DEBATE = (Node.JUDGE, Node.HUMAN_REVIEW, Node.FINALIZE)

FORK_OF = "claimcourt_fork_of"
FORK_AT = "claimcourt_fork_at"
FORK_EDIT = "claimcourt_fork_edit"


class ForkEdit(BaseModel):
    """What changes in the fork: neighbours (precedents) removed, an argument's text replaced."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    drop_neighbours: tuple[str, ...] = ()
    advocate: str | None = None
    skeptic: str | None = None

    def describe(self) -> str:
        parts = []
        if self.drop_neighbours:
            parts.append("neighbour(s) removed: " + ", ".join(self.drop_neighbours))
        parts += [f"the {role}'s argument replaced" for role in ("advocate", "skeptic") if getattr(self, role)]
        return "; ".join(parts) or "no edit (run again from there)"

    def update(self, state: ClaimState, at: str) -> dict[str, Any]:
        """The state update that makes this edit before `at`, as JSON (InputError: it cannot be made)."""
        if at not in FORK_POINTS:
            raise InputError(f"cannot fork before '{at}': choose one of {', '.join(FORK_POINTS)}")
        if (self.advocate is not None or self.skeptic is not None) and at not in _AFTER_DEBATE:
            raise InputError(
                f"an argument replaced before '{at}' would be argued again: fork before "
                f"{', '.join(_AFTER_DEBATE)} to replace one"
            )
        known = [n.id for n in state.neighbours]
        unknown = [i for i in self.drop_neighbours if i not in known]
        if unknown:
            raise InputError(
                f"claim '{state.claim_id}' has no neighbour {', '.join(repr(i) for i in unknown)}; "
                f"its neighbours: {', '.join(known) or 'none'}"
            )
        update: dict[str, Any] = {}
        dropped = set(self.drop_neighbours)
        if dropped:
            update["neighbours"] = [n for n in state.neighbours if n.id not in dropped]
        for role in ("advocate", "skeptic"):
            argument = getattr(state, role)
            text = getattr(self, role)
            if argument is not None and (dropped or text is not None):
                # A removed precedent is no longer cited; a replaced argument is the editor's, not a model's.
                changes: dict[str, Any] = {"cited": [c for c in argument.cited if c not in dropped]}
                if text is not None:
                    changes.update(text=text, backend="edited", prompt=None)
                update[role] = argument.model_copy(update=changes)
        return {key: _json(value) for key, value in update.items()}


@dataclass(frozen=True)
class ForkOrigin:
    """A fork's thread, the thread it was forked from, before which node, and what was edited."""

    thread_id: str
    source_thread: str
    at: str
    edit: str

    def metadata(self) -> dict[str, str]:
        return {FORK_OF: self.source_thread, FORK_AT: self.at, FORK_EDIT: self.edit}

    @classmethod
    def from_metadata(cls, thread_id: str, metadata: dict[str, Any] | None) -> ForkOrigin | None:
        found = metadata or {}
        if not found.get(FORK_OF):
            return None
        return cls(thread_id, str(found[FORK_OF]), str(found.get(FORK_AT, "")), str(found.get(FORK_EDIT, "")))


def fork_index(nexts: list[tuple[str, ...]], at: str) -> int:
    """Which checkpoint of a thread's line (oldest first, given by their `next`) the fork starts from:
    the last one due to run `at`, with a step before it to act as."""
    found = [i for i, due in enumerate(nexts) if at in due and i > 0]
    if not found:
        raise RunStateError(f"the thread never reached '{at}': nothing to fork there")
    return found[-1]


def _merged(updates: list[tuple[str, dict[str, Any]]], edit: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The last step's updates with the edit folded in: each key into the update of the node that wrote
    it (two writes of one key in one step would conflict), the rest into the first."""
    merged = [(node, dict(values)) for node, values in updates]
    for key, value in edit.items():
        owner = next((values for _, values in merged if key in values), merged[0][1])
        owner[key] = value
    return merged


# -- the CLI's checkpointer ---------------------------------------------------------------------------


async def lineage(graph: Any, config: dict[str, Any]) -> list[Any]:
    """The thread's head checkpoint and its ancestors, oldest first (other branches left out)."""
    snapshot = await graph.aget_state(config)
    chain = []
    while snapshot is not None and snapshot.values is not None:
        chain.append(snapshot)
        if snapshot.parent_config is None:
            break
        snapshot = await graph.aget_state(snapshot.parent_config)
    chain.reverse()
    return chain


async def fork_thread(
    graph: Any, source: dict[str, Any], fork_id: str, *, at: str, edit: ForkEdit, context: Any
) -> ForkOrigin:
    """Fork the thread of `source` before `at` into the new thread `fork_id`, edited, and run it on."""
    from langgraph.types import StateUpdate

    chain = await lineage(graph, source)
    index = fork_index([tuple(s.next) for s in chain], at)
    update = edit.update(ClaimState.model_validate(_values(chain[index].values)), at)
    origin = ForkOrigin(fork_id, source["configurable"]["thread_id"], at, edit.describe())
    start = next(t.result for t in chain[0].tasks if t.result is not None)
    steps = [[(t.name, t.result) for t in snapshot.tasks if t.result is not None] for snapshot in chain[:index]]
    steps[-1] = _merged(steps[-1], update)
    supersteps = [[StateUpdate(start, "__input__")]] + [[StateUpdate(v, n) for n, v in step] for step in steps]
    config = {"configurable": {"thread_id": fork_id}}
    await graph.abulk_update_state({**config, "metadata": origin.metadata()}, supersteps)
    head = await graph.aget_state(config)
    if at not in tuple(head.next):
        raise RunStateError(f"the fork of {origin.source_thread} did not stop before '{at}' (it is due: {head.next})")
    await graph.ainvoke(None, config, context=context)
    return origin


async def forks_of(saver: Any, source_thread: str) -> list[ForkOrigin]:
    """The forks made of a thread, oldest first."""
    found: dict[str, ForkOrigin] = {}
    async for item in saver.alist(None, filter={FORK_OF: source_thread}):
        thread = item.config["configurable"]["thread_id"]
        origin = ForkOrigin.from_metadata(thread, item.metadata)
        if origin is not None:
            found[thread] = origin
    return list(reversed(found.values()))


def _json(value: Any) -> Any:
    return [_json(v) for v in value] if isinstance(value, list) else value.model_dump(mode="json")


def _values(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if not k.startswith("__")}


# -- the LangGraph server -----------------------------------------------------------------------------


async def fork_served_thread(client: Any, thread_id: str, *, at: str, edit: ForkEdit) -> ForkOrigin:
    """Fork a thread of the LangGraph server (through `langgraph_sdk`'s client) before `at`, edited: a
    copy of the thread (`threads.copy`), its state updated at the checkpoint before `at`, its origin in
    the thread's metadata. Run it on with `client.runs.wait(origin.thread_id, assistant_id)`."""
    copy = await client.threads.copy(thread_id)
    fork_id = copy["thread_id"]
    history = await client.threads.get_history(fork_id, limit=1000)
    by_id = {state["checkpoint"]["checkpoint_id"]: state for state in history}
    chain, state = [], history[0] if history else None
    while state is not None:
        chain.append(state)
        parent = state.get("parent_checkpoint") or {}
        state = by_id.get(parent.get("checkpoint_id"))
    chain.reverse()
    index = fork_index([tuple(s["next"]) for s in chain], at)
    target = chain[index]
    update = edit.update(ClaimState.model_validate(_values(target["values"])), at)
    as_node = chain[index - 1]["tasks"][0]["name"]
    await client.threads.update_state(fork_id, update, as_node=as_node, checkpoint=target["checkpoint"])
    origin = ForkOrigin(fork_id, thread_id, at, edit.describe())
    await client.threads.update(fork_id, metadata=origin.metadata())
    return origin
