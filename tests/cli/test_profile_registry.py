"""`--profile NAME` resolves through the backend registry: a recording fake registered by name drives the
real CLI (`run` over a small CSV: graph, checkpointer, Chroma, the results files), and an unknown name is
refused with the names there are."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.config import Settings
from claimcourt.models.base import DebateBackend
from claimcourt.models.registry import known_backends, register_backend, unregister_backend
from claimcourt.prompts import roles
from claimcourt.prompts.roles import RolePrompts
from claimcourt.retrieval.search import NeighbourSearch
from claimcourt.state import Argument, ClaimState, Role, Verdict
from claimcourt.workspace import WorkspacePaths
from tests.conftest import flat, read_csv

runner = CliRunner()
# The claims the fake is sure of (p_green 0.95, decided by the Judge); the others wait for a person.
SURE = 0.95
UNSURE = 0.5


class RecordingBackend(DebateBackend):
    """Records every claim it is asked about, with the prompts it was built with and the neighbours the
    run retrieved for it; argues with its own templates' first words and is sure of every other claim."""

    name = "recording"

    def __init__(self, prompts: RolePrompts) -> None:
        self.prompts = prompts
        self.ready = False
        self.argued: list[tuple[Role, str, str]] = []
        self.judged: list[tuple[str, int]] = []

    def check_ready(self) -> None:
        self.ready = True

    async def argue(self, role: Role, state: ClaimState) -> Argument:
        self.argued.append((role, state.claim_id, state.text))
        template = self.prompts.advocate if role == "advocate" else self.prompts.skeptic
        return Argument(role=role, text=f"{role} of {state.claim_id}: {template[:20]}", backend=self.name)

    async def judge(self, state: ClaimState) -> Verdict:
        self.judged.append((state.claim_id, len(state.neighbours)))
        p_green = SURE if len(self.judged) % 2 else UNSURE
        return Verdict.from_p_green(p_green, rationale=f"recorded {state.claim_id}", method="recording")


@pytest.fixture
def recording() -> Iterator[list[RecordingBackend]]:
    built: list[RecordingBackend] = []

    @register_backend("recording", prompts_like="endpoint")
    def build(
        settings: Settings, search: NeighbourSearch, prompts: RolePrompts, *, hf_models: Any = None
    ) -> RecordingBackend:
        backend = RecordingBackend(prompts)
        built.append(backend)
        return backend

    yield built
    unregister_backend("recording")


def test_a_registered_backend_runs_by_its_profile_name(
    recording: list[RecordingBackend], indexed_settings: Settings, silver_batch_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "labels.csv"
    ws = str(indexed_settings.workspace)
    args = ["run", str(silver_batch_csv), "-o", str(out), "--run-id", "rec", "--limit", "6", "-w", ws]
    result = runner.invoke(app, [*args, "--profile", "recording"])

    assert result.exit_code == 0, result.output
    claims = read_csv(silver_batch_csv)[:6]
    ids = [c["id"] for c in claims]
    (backend,) = recording
    assert backend.ready  # checked before the first claim
    # The LLM profiles' role prompts (prompts_like='endpoint'), as the run handed them over.
    assert backend.prompts == roles.LLM
    assert sorted(backend.argued) == sorted(
        (role, c["id"], c["text"]) for c in claims for role in ("advocate", "skeptic")
    )
    assert sorted(claim_id for claim_id, _ in backend.judged) == sorted(ids)
    # It retrieved as the offline profile does: that profile's number of neighbours.
    assert {neighbours for _, neighbours in backend.judged} == {indexed_settings.top_k}

    rows = {row["id"]: row for row in read_csv(out)}
    assert sorted(rows) == sorted(ids)
    for row in rows.values():
        assert (row["decided_by"] == "judge") == (float(row["confidence"]) >= SURE)
    assert sum(row["decided_by"] == "judge" for row in rows.values()) == 3
    records = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines()]
    arguments = json.dumps(records)
    assert all(f"advocate of {claim_id}: " in arguments and f"skeptic of {claim_id}: " in arguments for claim_id in ids)


def test_an_unknown_profile_is_refused_with_the_known_names(
    recording: list[RecordingBackend], indexed_settings: Settings, silver_batch_csv: Path, tmp_path: Path
) -> None:
    ws = indexed_settings.workspace
    result = runner.invoke(app, ["run", str(silver_batch_csv), "-w", str(ws), "--profile", "nonsense"])

    assert result.exit_code == 2
    known = "known profiles: offline, hf, endpoint, recording"
    assert f"unknown profile 'nonsense' (--profile, or profile in the config); {known}" in flat(result.output)
    assert known_backends() == ["offline", "hf", "endpoint", "recording"]
    # The same from the workspace's config file (the settings cannot know what will be registered).
    (ws / "claimcourt.toml").write_text("profile = 'cloud'\n", encoding="utf-8")
    from_config = runner.invoke(app, ["run", str(silver_batch_csv), "-w", str(ws)])
    assert from_config.exit_code == 2
    assert f"unknown profile 'cloud' (--profile, or profile in the config); {known}" in flat(from_config.output)
    assert not recording
    assert not WorkspacePaths(ws).ledger.exists()
