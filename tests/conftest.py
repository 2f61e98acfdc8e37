"""Shared fixtures. Every test runs in its own temporary directory with no CLAIMCOURT_* variables
from the machine, so a test never touches a real workspace."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import uuid
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from claimcourt.config import Settings, load_settings
from claimcourt.state import Argument, ClaimState, Role, Verdict
from tests.chroma_support import chroma_server, services_required

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("CLAIMCOURT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at the terminal width; keep messages on one line
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(overrides={"workspace": tmp_path / "ws"}, environ={})


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a real `chroma run` server shared by the session (each test uses its own collection)."""
    required = services_required()  # read before any test's `isolated` clears CLAIMCOURT_* variables
    with ExitStack() as stack:
        try:
            url = stack.enter_context(chroma_server(tmp_path_factory.mktemp("chroma-server")))
        except RuntimeError as exc:
            if required:
                pytest.fail(f"CLAIMCOURT_REQUIRE_SERVICES=1 but the Chroma server cannot start: {exc}")
            pytest.skip(f"no Chroma server: {exc}")
        yield url


@pytest.fixture(params=["folder", "server"])
def store_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """The same tests against the workspace's Chroma folder and against a `chroma run` server."""
    if request.param == "folder":
        return settings
    url = request.getfixturevalue("chroma_url")
    retrieval = {"chroma_url": url, "collection": f"test-{uuid.uuid4().hex}"}
    return load_settings(overrides={"workspace": settings.workspace, "retrieval": retrieval}, environ={})


@pytest.fixture(scope="session")
def server_indexed_collection(chroma_url: str, indexed_template: Path) -> str:
    """A collection on the session's server holding the 80 claims of `indexed_template`, indexed once.
    Tests that only read share it (embedding is the slow part)."""
    from claimcourt.jobs.index import index_file

    collection = f"template-{uuid.uuid4().hex}"
    retrieval = {"chroma_url": chroma_url, "collection": collection}
    workspace = indexed_template.parent / "server-ws"
    index_file(
        indexed_template.parent / "labelled.csv",
        load_settings(overrides={"workspace": workspace, "retrieval": retrieval}, environ={}),
    )
    return collection


@pytest.fixture(params=["folder", "server"])
def indexed_store_settings(request: pytest.FixtureRequest, settings: Settings) -> Settings:
    """`indexed_settings` against the folder and against the server (read it, do not write to it)."""
    if request.param == "folder":
        return request.getfixturevalue("indexed_settings")
    retrieval = {
        "chroma_url": request.getfixturevalue("chroma_url"),
        "collection": request.getfixturevalue("server_indexed_collection"),
    }
    return load_settings(overrides={"workspace": settings.workspace, "retrieval": retrieval}, environ={})


def write_csv(path: Path, rows: Iterable[dict[str, Any]], columns: list[str] | None = None) -> Path:
    rows = list(rows)
    columns = columns or list(rows[0])
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def ctrl_c_reaches_it() -> None:
    """preexec_fn for a child a test stops with SIGINT: a job started in the background by a
    non-interactive shell (CI under nohup, say) ignores SIGINT, and its children inherit that, so the
    test's Ctrl-C would never arrive. The child gets the default disposition back, as from a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="session")
def silver_rows() -> list[dict[str, str]]:
    """The real claims of ../shared/data/silver_claims.csv (id, text, label)."""
    path = SHARED_DATA / "silver_claims.csv"
    if not path.exists():
        pytest.skip(f"{path} is not available")
    return [{"id": r["id"], "text": r["text"], "label": r["label"]} for r in read_csv(path)]


@pytest.fixture
def silver_index_csv(tmp_path: Path, silver_rows: list[dict[str, str]]) -> Path:
    """80 real labelled claims (balanced), for indexing."""
    green = [r for r in silver_rows if r["label"] == "1"][:40]
    other = [r for r in silver_rows if r["label"] == "0"][:40]
    return write_csv(tmp_path / "labelled.csv", green + other)


@pytest.fixture
def silver_batch_csv(tmp_path: Path, silver_rows: list[dict[str, str]]) -> Path:
    """24 real claims not in `silver_index_csv`, without labels, as a batch to run."""
    green = [r for r in silver_rows if r["label"] == "1"][40:52]
    other = [r for r in silver_rows if r["label"] == "0"][40:52]
    return write_csv(tmp_path / "batch.csv", [{"id": r["id"], "text": r["text"]} for r in green + other])


@pytest.fixture(scope="session")
def indexed_template(tmp_path_factory: pytest.TempPathFactory, silver_rows: list[dict[str, str]]) -> Path:
    """A workspace indexed once per session; tests get a copy (embedding is the slow part)."""
    from claimcourt.jobs.index import index_file

    root = tmp_path_factory.mktemp("template")
    green = [r for r in silver_rows if r["label"] == "1"][:40]
    other = [r for r in silver_rows if r["label"] == "0"][:40]
    labelled = write_csv(root / "labelled.csv", green + other)
    index_file(labelled, load_settings(overrides={"workspace": root / "ws"}, environ={}))
    return root / "ws"


@pytest.fixture
def indexed_settings(settings: Settings, silver_index_csv: Path, indexed_template: Path) -> Settings:
    """A workspace whose index holds the 80 claims of `silver_index_csv` (real MiniLM embeddings, real
    Chroma on disk), copied from the session's template."""
    shutil.copytree(indexed_template, settings.workspace)
    return settings


class FakeBackend:
    """A scripted backend for unit tests: p_green per claim id (default 0.9), records every call.
    A p_green of None makes an unreadable verdict."""

    name = "fake"

    def __init__(self, p_green: dict[str, float | None] | None = None, default: float = 0.9) -> None:
        self.p_green = p_green or {}
        self.default = default
        self.calls: list[tuple[str, str]] = []

    def check_ready(self) -> None:
        return None

    async def argue(self, role: Role, state: ClaimState) -> Argument:
        self.calls.append((role, state.claim_id))
        return Argument(role=role, text=f"{role} on {state.claim_id}", backend=self.name)

    async def judge(self, state: ClaimState) -> Verdict:
        self.calls.append(("judge", state.claim_id))
        p = self.p_green.get(state.claim_id, self.default)
        if p is None:
            return Verdict(confidence=0.0, readable=False, unreadable_reason="scripted: unreadable", method="fake")
        return Verdict.from_p_green(p, rationale=f"scripted {p}", method="fake")


@pytest.fixture
def fake_backend() -> FakeBackend:
    return FakeBackend()


def flat(text: str) -> str:
    """Output with every run of whitespace made one space, so wrapping never breaks an assertion."""
    return " ".join(text.split())
