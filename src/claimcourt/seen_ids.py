"""Which ids a file has already shown, for any number of ids, in bounded memory."""

from __future__ import annotations

import sqlite3
import tempfile


class SeenIds:
    """Exact duplicate detection over any number of ids in bounded memory: the ids of the last rows in a
    dict, all earlier ones in a temporary SQLite file keyed by id (its page cache is all the memory it
    takes). `add` returns (id, first row, repeated row) for a duplicate, else None."""

    _BATCH = 20_000

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="claimcourt-ids-")
        self._conn = sqlite3.connect(f"{self._dir.name}/ids.sqlite")
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-16384", "temp_store=FILE"):
            self._conn.execute(f"PRAGMA {pragma}")
        self._conn.execute("CREATE TABLE ids (id TEXT PRIMARY KEY, row INTEGER NOT NULL) WITHOUT ROWID")
        self._batch: dict[str, int] = {}

    def add(self, claim_id: str, row: int) -> tuple[str, int, int] | None:
        first = self._batch.get(claim_id)
        if first is not None:
            return claim_id, first, row
        self._batch[claim_id] = row
        return self.flush() if len(self._batch) >= self._BATCH else None

    def flush(self) -> tuple[str, int, int] | None:
        """Move the batch to disk, after looking its ids up there."""
        batch, self._batch = self._batch, {}
        ids = list(batch)
        repeated: list[tuple[str, int, int]] = []
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            for found_id, first in self._conn.execute(f"SELECT id, row FROM ids WHERE id IN ({marks})", part):
                repeated.append((found_id, int(first), batch[found_id]))
        if repeated:
            return min(repeated, key=lambda r: r[2])  # the earliest repeat in the file
        self._conn.executemany("INSERT INTO ids VALUES (?, ?)", batch.items())
        return None

    def close(self) -> None:
        self._conn.close()
        self._dir.cleanup()
