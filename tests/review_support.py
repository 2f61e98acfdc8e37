"""Shared by the review tests: a workspace with a run whose claims wait for a person.

Built once per test session (index 80 real labelled claims, run 24 real claims with threshold 0.999 so
every one goes to review) and copied for each test, so every test starts from the same waiting run.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from claimcourt.config import Settings, load_settings
from claimcourt.review.queries import confidence_key
from claimcourt.state import ClaimState
from claimcourt.store import Store, open_store
from claimcourt.workspace import WorkspacePaths
from tests.conftest import write_csv

RUN_ID = "r1"
THRESHOLD = 0.999
_template: Path | None = None
CLAIMCOURT = Path(sys.executable).with_name("claimcourt")
# `PYTHONPATH=src` must still mean this checkout once a test has moved to its temporary directory.
_PYTHONPATH = os.pathsep.join(str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[()][A-Z0-9]|\r")


def _build_template(root: Path, silver_rows: list[dict[str, str]]) -> Path:
    from claimcourt.jobs.index import index_file
    from claimcourt.jobs.runner import Runner
    from claimcourt.tables import ClaimTable

    green = [r for r in silver_rows if r["label"] == "1"]
    other = [r for r in silver_rows if r["label"] == "0"]
    labelled = write_csv(root / "labelled.csv", green[:40] + other[:40])
    batch = write_csv(root / "batch.csv", [{"id": r["id"], "text": r["text"]} for r in green[40:52] + other[40:52]])
    settings = load_settings(overrides={"workspace": root / "ws", "threshold": THRESHOLD}, environ={})
    index_file(labelled, settings)
    asyncio.run(Runner(settings).run(ClaimTable(batch), run_id=RUN_ID))
    return root / "ws"


@pytest.fixture
def review_ws(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, silver_rows: list[dict[str, str]]) -> Path:
    """A fresh copy of a workspace where run 'r1' has 24 claims waiting for a person."""
    global _template
    if _template is None:
        _template = _build_template(tmp_path_factory.mktemp("review-template"), silver_rows)
    target = tmp_path / "ws"
    shutil.copytree(_template, target)
    return target


@pytest.fixture
def review_settings(review_ws: Path) -> Settings:
    return load_settings(overrides={"workspace": review_ws}, environ={})


def store_at(ws: Path) -> Store:
    """The run state of the workspace at `ws` (SQLite)."""
    return open_store(load_settings(overrides={"workspace": ws}, environ={}))


def waiting_states(ws: Path, run_id: str = RUN_ID) -> list[ClaimState]:
    """The run's waiting claims, in the order a session shows them (lowest confidence first)."""
    with store_at(ws) as store:
        claims = list(store.ledger.claims(run_id, status="pending_review"))
    states = [c.state() for c in claims]
    ordered = sorted(zip(states, claims, strict=True), key=lambda sc: (confidence_key(sc[0]), sc[1].seq))
    return [s for s, _ in ordered if s is not None]


def counts(ws: Path, run_id: str = RUN_ID) -> dict[str, int]:
    with store_at(ws) as store:
        return store.ledger.counts(run_id)


def reviews(ws: Path, *, active_only: bool = True) -> list[dict[str, Any]]:
    import sqlite3

    conn = sqlite3.connect(str(WorkspacePaths(ws).ledger))
    conn.row_factory = sqlite3.Row
    try:
        query = "SELECT * FROM reviews" + (" WHERE undone_at IS NULL" if active_only else "") + " ORDER BY review_id"
        return [dict(r) for r in conn.execute(query)]
    finally:
        conn.close()


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMCOURT_")}
    env.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TERM": "xterm-256color", "PYTHONUNBUFFERED": "1"})
    env.pop("NO_COLOR", None)
    env.pop("COLUMNS", None)  # the terminal says how wide it is
    if _PYTHONPATH:
        env["PYTHONPATH"] = _PYTHONPATH
    return env


def plain(text: str) -> str:
    """Terminal output without colours and cursor moves."""
    return ANSI.sub("", text)
