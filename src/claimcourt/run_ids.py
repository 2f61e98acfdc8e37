"""Run ids: which characters they may hold, and the one folder each maps to.

A new run id is 1-128 characters from A-Z a-z 0-9 '.', '_', '-', not starting with '.' or '-'
(so it is a plain file name on every system and never '.', '..' or an option). Runs recorded by older
releases may hold other characters: their folder name escapes every other byte (%XX), which a valid
id never contains, so no two run ids share a folder.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from claimcourt.errors import RunStateError

RUN_ID_CHARS = "A-Z a-z 0-9 . _ -"
_VALID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")


def is_valid_run_id(run_id: str) -> bool:
    return _VALID.fullmatch(run_id) is not None


def check_run_id(run_id: str) -> str:
    if not is_valid_run_id(run_id):
        raise RunStateError(
            f"run id {run_id!r} is not allowed: use 1-128 characters from {RUN_ID_CHARS}, "
            "starting with a letter, digit or '_'"
        )
    return run_id


def run_folder_name(run_id: str) -> str:
    """A valid id is its own folder name; any other (an older release's) is escaped injectively."""
    if is_valid_run_id(run_id):
        return run_id
    return "%" + quote(run_id, safe="_-")
