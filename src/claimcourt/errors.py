"""One exception family; the CLI turns each into a one-line message and an exit code."""

from __future__ import annotations

from pathlib import Path
from typing import Literal


class ClaimcourtError(Exception):
    """Base of every error a user can cause and fix. `exit_code` is what the CLI exits with."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(ClaimcourtError):
    """Bad input data, located as precisely as possible: file, row (1-based data row) and column."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.row = row
        self.column = column
        where = []
        if self.file is not None:
            where.append(self.file)
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class UsageError(ClaimcourtError):
    """A command asked for in a way it cannot work: e.g. the full-screen review without a terminal."""


class ConfigError(ClaimcourtError):
    """A configuration file, environment variable or flag that cannot be used."""


class IndexStateError(ClaimcourtError):
    """The vector store cannot serve this request: empty, or built with another embedding model."""


class StoreCorruptError(IndexStateError):
    """The Chroma folder's database cannot be read; `claimcourt index` sets `folder` aside and rebuilds."""

    def __init__(self, message: str, *, folder: Path) -> None:
        super().__init__(message)
        self.folder = folder


class RunStateError(ClaimcourtError):
    """A run or claim that does not exist, or is not in the state the command needs."""


class BackendError(ClaimcourtError):
    """A model backend that cannot be loaded or reached."""

    exit_code = 3


class StorageError(ClaimcourtError):
    """Run state that cannot be opened: an unreachable or malformed storage_url, a schema newer than
    this release, a workspace that must be migrated first."""


class DatabaseGoneError(StorageError):
    """The shared database (Postgres) went away and did not come back within the outage the store rides
    out (a worker's lease): what was committed is kept, and the same command run again carries on."""

    exit_code = 75  # EX_TEMPFAIL: try again later


class ConnectionLostError(DatabaseGoneError):
    """The connection went in the middle of a transaction, which the server rolled back: the caller may
    run the whole transaction again (the store reconnects first, or says the database is gone)."""


class WorkspaceBusyError(ClaimcourtError):
    """Another process held the run ledger's write lock for longer than the busy timeout."""


class EndpointError(ClaimcourtError):
    """A model server that cannot serve this run as configured (unreachable, refuses the key, lacks a
    model or log-probabilities): found by the probe before any claim, fixed in `[endpoint]`."""


class LeaseLostError(Exception):
    """Not a user's error: a worker went to write a claim's thread after another worker had taken the
    claim over (its lease ran out while it stalled). The runner leaves that claim to the other worker."""


class ReviewRefused(ClaimcourtError):
    """A decision (or a view) the review policy does not allow: `review.policy` says which and why.
    `reason` is a stable code a face may branch on; the message is for the person."""

    def __init__(
        self,
        message: str,
        *,
        reason: Literal[
            "accept_blind",
            "accept_after_blind",
            "no_judge_label",
            "bad_key",
            "note_required",
            "filter_blind",
            "export_blind",
        ],
    ) -> None:
        super().__init__(message)
        self.reason = reason


class MissingExtraError(ConfigError):
    """An optional part of claimcourt used without the extra that installs it (see `claimcourt.extras`)."""
