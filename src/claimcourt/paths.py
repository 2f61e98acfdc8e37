"""Checks on the files a command is told to read or write, made before any work starts.

A results file that cannot be written is found before the batch is debated, not after it: the error
names the path and says what is wrong with it, and nothing is touched.
"""

from __future__ import annotations

from pathlib import Path

from claimcourt.errors import InputError


def _blocking_parent(path: Path) -> Path | None:
    """The nearest existing ancestor of `path` when it is not a directory (so `path` cannot be made)."""
    for parent in path.parents:
        if parent.exists():
            return None if parent.is_dir() else parent
    return None


def check_output_file(path: Path) -> None:
    """`path` can be written as a file: it is not a directory, and no part of its folder is a file."""
    if path.is_dir():
        raise InputError("is a directory; give a file name for the output", file=path)
    blocking = _blocking_parent(path)
    if blocking is not None:
        raise InputError(f"cannot be written: {blocking} is a file, not a folder", file=path)


def check_output_dir(path: Path) -> None:
    """`path` can be (or already is) a folder."""
    if path.exists() and not path.is_dir():
        raise InputError("is a file, not a folder", file=path)
    blocking = _blocking_parent(path)
    if blocking is not None:
        raise InputError(f"cannot be made: {blocking} is a file, not a folder", file=path)


def check_input_file(path: Path) -> None:
    """`path` is a readable file."""
    if not path.exists():
        raise InputError("file not found", file=path)
    if path.is_dir():
        raise InputError("is a directory, not a file", file=path)
