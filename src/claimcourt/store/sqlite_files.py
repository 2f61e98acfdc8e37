"""A damaged SQLite file of the run state is named, not met deep inside a query: an error there would
not say which file is broken or what to do about it."""

from __future__ import annotations

from pathlib import Path

from claimcourt.errors import StorageError


def damaged(path: Path, why: str) -> StorageError:
    return StorageError(
        f"{path}: {why}. The run state is in this file: restore it from a backup, or move it aside to start "
        "afresh (the runs it held are then forgotten)"
    )


def check_sqlite_file(path: Path) -> None:
    """Refuse a workspace database that is not SQLite or was cut short, before anything reads it.
    Cheap: the header only."""
    if not path.exists() or path.stat().st_size == 0:
        return
    size = path.stat().st_size
    with path.open("rb") as fh:
        header = fh.read(100)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        raise damaged(path, "is not a SQLite database (damaged or overwritten)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    wal = path.with_name(path.name + "-wal")
    # The header's page count is trustworthy when nothing waits in the write-ahead log.
    if (not wal.exists() or wal.stat().st_size == 0) and pages and size < pages * page_size:
        raise damaged(path, f"is cut short ({size} of {pages * page_size} bytes)")
