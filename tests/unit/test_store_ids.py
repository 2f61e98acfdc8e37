"""Two claims never share a thread or a folder (issue 15, items 6 and 7)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from claimcourt.errors import RunStateError
from claimcourt.run_ids import is_valid_run_id
from claimcourt.state import claim_id_of
from claimcourt.store import check_run_id, run_folder_name, thread_id
from claimcourt.workspace import WorkspacePaths

NASTY = ["p", "q", "p:q", "q:1", "1", ":", "::", "%", "%3A", "%253A", "a%3Ab", "a:b:c", "", "x%", ":x", "x:"]


def test_thread_ids_are_injective_over_ids_full_of_separators() -> None:
    pairs = list(itertools.product(NASTY, repeat=2))
    ids = {thread_id(run, claim) for run, claim in pairs}
    assert len(ids) == len(pairs)
    assert thread_id("p", "q:1") != thread_id("p:q", "1")


def test_a_thread_id_gives_back_its_claim_id() -> None:
    for run, claim in itertools.product(NASTY, repeat=2):
        assert claim_id_of(thread_id(run, claim)) == claim


def test_plain_ids_keep_the_thread_ids_of_earlier_releases() -> None:
    assert thread_id("batch-20260101", "8656108") == "batch-20260101:8656108"


@pytest.mark.parametrize("run_id", ["big", "claims-20261202-061500", "a.b_c-d", "_x", "9" * 128])
def test_valid_run_ids(run_id: str) -> None:
    assert check_run_id(run_id) == run_id
    assert run_folder_name(run_id) == run_id


@pytest.mark.parametrize(
    "run_id", ["c/d", "..", ".", "", "-rf", ".hidden", "a b", "a:b", "x" * 129, "é", "a\\b", "a\x00"]
)
def test_run_ids_that_could_choose_a_path_are_refused_with_the_allowed_characters(run_id: str) -> None:
    with pytest.raises(RunStateError, match=r"A-Z a-z 0-9 \. _ -"):
        check_run_id(run_id)


def test_old_run_ids_map_to_distinct_folders_inside_runs(tmp_path: Path) -> None:
    paths = WorkspacePaths(tmp_path)
    legacy = ["c/d", "c_d", "c%2Fd", "..", ".", "../..", "/abs", "a:b", "a b"]
    folders = [paths.run_dir(run_id) for run_id in legacy]
    assert len(set(folders)) == len(folders)
    for folder in folders:
        assert folder.parent == tmp_path / "runs"
        assert folder.name not in (".", "..") and "/" not in folder.name
        assert is_valid_run_id(folder.name) == is_valid_run_id(legacy[folders.index(folder)])
