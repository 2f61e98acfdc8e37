"""Real MiniLM embeddings, real Chroma: each test runs against the workspace's folder and against a
`chroma run` server (`store_settings`), which must behave the same."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from claimcourt.config import Settings
from claimcourt.deps import build_search, build_store
from claimcourt.errors import ConfigError, IndexStateError
from claimcourt.jobs.index import index_file
from claimcourt.models.offline.backend import load_classifier
from claimcourt.retrieval.store import LabelledStore
from claimcourt.workspace import WorkspacePaths
from tests.chroma_support import RUNNING, chroma_server, services_required
from tests.conftest import read_csv, write_csv


def test_indexing_twice_is_idempotent_and_a_changed_label_is_updated(
    store_settings: Settings, silver_index_csv: Path, tmp_path: Path
) -> None:
    settings = store_settings
    first = index_file(silver_index_csv, settings)
    assert (first.added, first.total) == (80, 80)
    again = index_file(silver_index_csv, settings)
    assert (again.added, again.unchanged, again.total) == (0, 80, 80)

    rows = read_csv(silver_index_csv)
    rows[0]["label"] = "0" if rows[0]["label"] == "1" else "1"
    rows[1]["text"] = rows[1]["text"] + " wherein the housing is transparent."
    changed = index_file(write_csv(tmp_path / "changed.csv", rows), settings)
    assert (changed.relabelled, changed.re_embedded, changed.total) == (1, 1, 80)
    stored = build_search(settings).store.existing([rows[0]["id"]])
    assert stored[rows[0]["id"]].label == int(rows[0]["label"])
    judge_file = WorkspacePaths(settings.workspace).offline_judge(settings.retrieval.collection)
    classifier = load_classifier(build_store(settings), judge_file)
    assert classifier.n_train == 80
    if settings.retrieval.chroma_url:
        # The server holds everything: nothing of the store is written into the workspace.
        assert not WorkspacePaths(settings.workspace).chroma.exists()
        assert not judge_file.exists()


def test_neighbours_never_include_the_claim_itself(indexed_store_settings: Settings, silver_index_csv: Path) -> None:
    search = build_search(indexed_store_settings)
    rows = read_csv(silver_index_csv)
    vectors = search.embedder.embed([r["text"] for r in rows[:5]])
    # Same id, and the same text under another id (a duplicate filed twice), are both excluded.
    same_id = search.store.nearest(
        vectors, claim_ids=[r["id"] for r in rows[:5]], texts=[r["text"] for r in rows[:5]], k=5
    )
    for row, found in zip(rows[:5], same_id, strict=True):
        assert len(found) == 5
        assert row["id"] not in {n.id for n in found}
        assert all(n.similarity < 0.999 for n in found)
        assert found == sorted(found, key=lambda n: -n.similarity)
    renamed = search.store.nearest(vectors[:1], claim_ids=["NEW-ID"], texts=["  " + rows[0]["text"].upper() + " "], k=5)
    assert rows[0]["id"] not in {n.id for n in renamed[0]}


def test_another_embedding_model_is_refused(indexed_store_settings: Settings) -> None:
    settings = indexed_store_settings
    other = LabelledStore(
        WorkspacePaths(settings.workspace).chroma,
        collection=settings.retrieval.collection,
        embedding_model="AI-Growth-Lab/PatentSBERTa",
        url=settings.retrieval.chroma_url,
    )
    with pytest.raises(IndexStateError, match="built with embedding model 'sentence-transformers/all-MiniLM-L6-v2'"):
        other.count()


def test_empty_index_is_refused(store_settings: Settings) -> None:
    with pytest.raises(IndexStateError, match="empty"):
        build_search(store_settings).store.require_nonempty()


def test_a_damaged_vector_index_is_named_and_index_sets_the_folder_aside(
    settings: Settings, silver_index_csv: Path
) -> None:
    """Chroma writes its HNSW files once a collection passes ~1,000 vectors: damage them."""
    from chromadb.api.shared_system_client import SharedSystemClient

    from claimcourt.errors import StoreCorruptError

    chroma = WorkspacePaths(settings.workspace).chroma
    store = build_store(settings)
    vectors = np.random.default_rng(0).normal(size=(1_200, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"r{i}" for i in range(1_200)]
    store.upsert(ids, [f"claim {i}" for i in range(1_200)], [i % 2 for i in range(1_200)], vectors)
    SharedSystemClient.clear_system_cache()  # as if the process ended: the next open reads the files
    segment_files = [f for d in chroma.iterdir() if d.is_dir() for f in d.iterdir()]
    assert segment_files
    for file in segment_files:
        with file.open("r+b") as fh:
            fh.truncate(file.stat().st_size // 2)

    with pytest.raises(StoreCorruptError, match=f"^{chroma}: the Chroma database in this folder cannot be read"):
        build_store(settings).require_nonempty()
    report = index_file(silver_index_csv, settings)
    assert report.set_aside.startswith(f"{chroma}.damaged-")
    assert (report.added, report.total) == (80, 80)
    build_store(settings).require_nonempty()


@contextmanager
def own_chroma_server(tmp_path: Path) -> Iterator[str]:
    """A `chroma run` server of the test's own (the test stops or pauses it), stopped at the block's
    end; skipped where none can start, failed in CI."""
    try:
        server = chroma_server(tmp_path)
        url = server.__enter__()
    except RuntimeError as exc:
        if services_required():
            pytest.fail(f"the Chroma server cannot start: {exc}")
        pytest.skip(f"no Chroma server: {exc}")
    try:
        yield url
    finally:
        server.__exit__(None, None, None)


def test_a_server_that_stops_answering_mid_run_is_one_line(tmp_path: Path) -> None:
    with own_chroma_server(tmp_path) as url:
        store = LabelledStore(tmp_path / "unused", collection="stops", embedding_model="m", url=url)
        vectors = np.eye(3, dtype=np.float32)
        store.upsert(["a", "b", "c"], ["x", "y", "z"], [1, 0, 1], vectors)
        assert [n.id for n in store.nearest(vectors[:1], claim_ids=["q"], texts=["q"], k=1)[0]] == ["a"]
    with pytest.raises(ConfigError, match=f"retrieval.chroma_url '{url}': the Chroma server stopped answering"):
        store.nearest(vectors[:1], claim_ids=["q"], texts=["q"], k=1)
    assert not (tmp_path / "unused").exists()


def test_a_server_that_hangs_mid_run_is_one_line_after_the_timeout(tmp_path: Path) -> None:
    """A server that stops answering without closing its connections (paused, partitioned) fails the
    call after retrieval.chroma_timeout_s with the one-line error, instead of hanging for ever."""
    with own_chroma_server(tmp_path) as url:
        process = RUNNING[url]
        store = LabelledStore(tmp_path / "unused", collection="hangs", embedding_model="m", url=url, timeout_s=2)
        vectors = np.eye(3, dtype=np.float32)
        store.upsert(["a", "b", "c"], ["x", "y", "z"], [1, 0, 1], vectors)
        process.send_signal(signal.SIGSTOP)
        try:
            started = time.monotonic()
            with pytest.raises(ConfigError, match=f"retrieval.chroma_url '{url}': the Chroma server stopped answering"):
                store.nearest(vectors[:1], claim_ids=["q"], texts=["q"], k=1)
            # Far above the 2 s timeout on a busy machine, far below "for ever".
            assert time.monotonic() - started < 120
        finally:
            process.send_signal(signal.SIGCONT)
        assert [n.id for n in store.nearest(vectors[:1], claim_ids=["q"], texts=["q"], k=1)[0]] == ["a"]
