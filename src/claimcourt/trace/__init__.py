"""Following one debate step by step: replayed from the checkpoints (`replay`) or run now (`jobs.live`),
rendered for the terminal, as JSON (schema: `json_schema()`), or as markdown (`render`)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def json_schema() -> dict[str, Any]:
    """The JSON Schema of `claimcourt trace --format json` (shipped as package data)."""
    text = resources.files("claimcourt.trace").joinpath("schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
