"""Indexing labelled claims: embed in batches, upsert into Chroma, refit the offline Judge (its
embedding classifier and its weighing of the briefs, `models.offline.fit`).

Idempotent: ids are the keys. A claim already stored with the same text is not embedded again; a
changed label is updated in place; a changed text is re-embedded. The same holds for a folder and for
a Chroma server. A folder whose database cannot be read is set aside (renamed, not deleted) and the
store is built afresh: it holds nothing that the labelled files do not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from claimcourt.config import Settings
from claimcourt.deps import build_search
from claimcourt.errors import StoreCorruptError
from claimcourt.models.offline.refit import fit_judge
from claimcourt.retrieval.search import NeighbourSearch
from claimcourt.retrieval.store import LabelledStore, text_key
from claimcourt.tables import ClaimRow, ClaimTable

CHUNK = 512
# The stages `index_file` reports through `on_progress(stage, done, total)`, counted in claims.
EMBEDDING = "embedding"
FITTING = "fitting the offline Judge"
IndexProgress = Callable[[str, int, int], None]


@dataclass
class IndexReport:
    file: str
    rows: int = 0
    added: int = 0
    relabelled: int = 0
    re_embedded: int = 0
    unchanged: int = 0
    total: int = 0
    green: int = 0
    classifier_path: str = ""
    set_aside: str = ""  # where a damaged store folder was moved before rebuilding
    judge_version: int = 0


def index_file(
    path: Path,
    settings: Settings,
    *,
    id_col: str | None = None,
    text_col: str | None = None,
    label_col: str | None = None,
    on_progress: IndexProgress | None = None,
    search: NeighbourSearch | None = None,
) -> IndexReport:
    """Index a CSV or Parquet file of labelled claims. `on_progress(stage, done, total)` as claims are
    embedded (each batch), then as the offline Judge is fitted on the whole index.
    Pass `search` to reuse an embedder that is already loaded."""
    progress = on_progress or _no_progress
    table = ClaimTable(path, id_col=id_col, text_col=text_col, label_col=label_col, with_labels=True)
    rows = table.validate()  # bad rows stop the job before anything is written
    progress(EMBEDDING, 0, rows)
    search = search or build_search(settings)
    store = search.store
    report = IndexReport(file=str(path), rows=rows)
    report.set_aside = _set_aside_if_damaged(store)
    done = 0
    for chunk in table.chunks(CHUNK):
        to_embed, relabel = _sort_chunk(store, chunk, report)
        done += len(chunk) - len(to_embed)
        progress(EMBEDDING, done, rows)
        if to_embed:
            vectors = _embed_counting(search, to_embed, settings.retrieval.batch_size, progress, done, rows)
            done += len(to_embed)
            store.upsert(
                [c.id for c in to_embed],
                [c.text for c in to_embed],
                [int(c.label or 0) for c in to_embed],
                vectors,
            )
        if relabel:
            store.relabel(
                [c.id for c in relabel],
                [int(c.label or 0) for c in relabel],
                [text_key(c.text) for c in relabel],
            )
    # The people's decisions already in the store are fitted on too (`models.offline.refit`): a new index
    # fit is the next Judge version, never a step back to silver alone.
    progress(FITTING, 0, done)
    fitted = fit_judge(settings, store, by="index")
    report.classifier_path = fitted.where
    report.judge_version = fitted.record.version
    report.total = fitted.total
    report.green = fitted.green
    progress(FITTING, report.total, report.total)
    return report


def _sort_chunk(
    store: LabelledStore, chunk: list[ClaimRow], report: IndexReport
) -> tuple[list[ClaimRow], list[ClaimRow]]:
    """The chunk's claims to embed (new, or their text changed) and to relabel (only the label changed),
    counted in the report with those left unchanged."""
    stored = store.existing([c.id for c in chunk])
    to_embed = []
    relabel = []
    for claim in chunk:
        before = stored.get(claim.id)
        if before is None:
            to_embed.append(claim)
            report.added += 1
        elif before.text_key != text_key(claim.text):
            to_embed.append(claim)
            report.re_embedded += 1
        elif before.label != claim.label:
            relabel.append(claim)
            report.relabelled += 1
        else:
            report.unchanged += 1
    return to_embed, relabel


def _no_progress(stage: str, done: int, total: int) -> None:
    return None


def _embed_counting(
    search: NeighbourSearch, claims: list[ClaimRow], batch: int, progress: IndexProgress, done: int, rows: int
) -> np.ndarray:
    """The claims' vectors, embedded a batch at a time so that progress moves with each batch (`done`
    of the file's `rows` were counted before); longest texts first, as one call would order them, so
    that batches pad no more than it would."""
    order = sorted(range(len(claims)), key=lambda i: -len(claims[i].text))
    vectors: list[np.ndarray] = [np.empty(0)] * len(claims)
    for start in range(0, len(order), batch):
        part = order[start : start + batch]
        for i, vector in zip(part, search.embedder.embed([claims[i].text for i in part]), strict=True):
            vectors[i] = vector
        progress(EMBEDDING, done + start + len(part), rows)
    return np.stack(vectors)


def _set_aside_if_damaged(store: LabelledStore) -> str:
    """Check the store before writing to it; a damaged folder is renamed and a fresh one started.
    Returns the new name of the damaged folder ('' when it was fine)."""
    try:
        store.check_readable()
        return ""
    except StoreCorruptError as exc:
        from chromadb.api.shared_system_client import SharedSystemClient

        damaged = exc.folder.with_name(f"{exc.folder.name}.damaged-{datetime.now(UTC):%Y%m%dT%H%M%S}")
        exc.folder.rename(damaged)
        # Chroma keeps one system per folder in the process; the damaged one must not be reused.
        SharedSystemClient.clear_system_cache()
        store.reset()
        store.check_readable()
        return str(damaged)
