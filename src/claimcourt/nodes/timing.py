"""Per-node timing kept in the state, so a replayed trace can say how long each step took."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from claimcourt.state import utc_now


@contextmanager
def timed(node: str) -> Iterator[dict[str, Any]]:
    """`with timed("judge") as timing: ...; return {..., "timings": timing}`"""
    entry: dict[str, Any] = {"started_at": utc_now()}
    timing = {node: entry}
    start = time.perf_counter()
    try:
        yield timing
    finally:
        entry["duration_ms"] = round((time.perf_counter() - start) * 1000, 3)
