"""One trace step as the `--format json` contract has it (see `schema.json`): the record that the
step builder (`trace.steps`) makes and the per-node table (`trace.nodes`) renders. Its own module, so
that the table and the builder both import it without importing each other."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from claimcourt.vocab import Node


class TraceStep(BaseModel):
    """One node's run. `duration_ms` is None while a person has not decided (a waiting review)."""

    model_config = ConfigDict(extra="forbid")

    node: Node
    started_at: str | None
    duration_ms: float | None
    input: dict[str, Any]
    output: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")
