"""`claimcourt trace CLAIM --fork-at NODE ...`: time travel on a stored debate (real MiniLM, Chroma and
SQLite checkpoints, the offline profile), leaving the claim's own thread as it was."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.config import Settings
from claimcourt.store import open_store
from claimcourt.trace.replay import replay
from tests.conftest import flat, read_csv, write_csv
from tests.pg_support import postgres_server, postgres_url

__all__ = ["postgres_server", "postgres_url"]

# The offline Judge is deterministic for one input; the fork embeds the claim again, alone where the run
# embedded it in a batch (padding), which moves float32 vectors by ~1e-6 and p_green by far less than this.
SAME = 1e-4


def invoke(settings: Settings, *args: str):  # type: ignore[no-untyped-def]
    env = {"CLAIMCOURT_STORAGE_URL": settings.storage_url} if settings.storage_url else None
    return CliRunner().invoke(app, [*args, "-w", str(settings.workspace)], env=env)


@pytest.fixture(params=["sqlite", "postgres"])
def stored(request: pytest.FixtureRequest, indexed_settings: Settings) -> Settings:
    """The workspace's SQLite files, or one Postgres database (forks are found by checkpoint metadata)."""
    if request.param == "sqlite":
        return indexed_settings
    return indexed_settings.model_copy(update={"storage_url": request.getfixturevalue("postgres_url")})


def test_a_fork_before_judge_reweighs_without_the_removed_precedents(
    stored: Settings, silver_batch_csv: Path, tmp_path: Path
) -> None:
    indexed_settings = stored
    rows = read_csv(silver_batch_csv)[:2]
    ran = invoke(indexed_settings, "run", str(write_csv(tmp_path / "two.csv", rows)), "--run-id", "f1")
    assert ran.exit_code == 0, ran.output
    claim = rows[0]["id"]
    own = asyncio.run(replay(indexed_settings, claim, run_id="f1"))
    assert own.state.verdict is not None and own.state.verdict.p_green is not None
    side = [n.id for n in own.state.neighbours if n.label == own.state.verdict.label][:3]

    drops = [arg for i in side for arg in ("--drop-neighbour", i)]
    forked = invoke(indexed_settings, "trace", claim, "--fork-at", "judge", *drops, "--format", "json")
    assert forked.exit_code == 0, forked.output
    steps = json.loads(forked.stdout)
    nodes = [s["node"] for s in steps]
    assert nodes[0] == "retrieve" and set(nodes[1:3]) == {"advocate", "skeptic"} and nodes[3] == "judge", nodes
    judged = next(s for s in steps if s["node"] == "judge")
    assert abs(judged["output"]["verdict"]["p_green"] - own.state.verdict.p_green) > 1e-3

    # The claim's own thread, ledger row and verdict are as they were; its replay lists the fork.
    again = asyncio.run(replay(indexed_settings, claim, run_id="f1"))
    assert again.state.verdict == own.state.verdict and again.status == own.status
    with open_store(indexed_settings) as store:
        assert store.ledger.claim("f1", claim).status == own.status  # type: ignore[union-attr]
    listed = invoke(indexed_settings, "trace", claim)
    assert listed.exit_code == 0, listed.output
    assert "forks of this debate (1)" in flat(listed.output)
    fork_id = re.search(r"(f1:\S+#fork-[0-9a-f]{8})", listed.output)
    assert fork_id is not None and f"neighbour(s) removed: {', '.join(side)}" in flat(listed.output)

    replayed = invoke(indexed_settings, "trace", claim, "--fork-id", fork_id.group(1), "--format", "json")
    assert replayed.exit_code == 0, replayed.output
    assert json.loads(replayed.stdout) == steps

    unedited = invoke(indexed_settings, "trace", claim, "--fork-at", "judge", "--format", "json")
    p_again = next(s for s in json.loads(unedited.stdout) if s["node"] == "judge")["output"]["verdict"]["p_green"]
    assert abs(p_again - own.state.verdict.p_green) < SAME


def test_fork_edits_that_cannot_be_made_are_one_line_errors(
    indexed_settings: Settings, silver_batch_csv: Path, tmp_path: Path
) -> None:
    rows = read_csv(silver_batch_csv)[:1]
    assert invoke(indexed_settings, "run", str(write_csv(tmp_path / "one.csv", rows)), "--run-id", "f2").exit_code == 0
    claim = rows[0]["id"]
    unknown = invoke(indexed_settings, "trace", claim, "--fork-at", "judge", "--drop-neighbour", "no-such-id")
    assert unknown.exit_code == 2 and "has no neighbour 'no-such-id'" in flat(unknown.output)
    assert "Traceback" not in unknown.output
    loose = invoke(indexed_settings, "trace", claim, "--drop-neighbour", "x")
    assert loose.exit_code == 2 and "give --fork-at NODE too" in flat(loose.output)
    early = invoke(indexed_settings, "trace", claim, "--fork-at", "advocate", "--advocate-text", "it is green")
    assert early.exit_code == 2 and "would be argued again" in flat(early.output)
