"""Where a run's state lives: the Postgres database a `storage_url` names, or (None) the workspace's
SQLite files. Its own module, so that the checkpointer and the store ask it without importing each
other."""

from __future__ import annotations

from claimcourt.config import Settings
from claimcourt.errors import ConfigError
from claimcourt.urls import check_storage_url


def storage_url(settings: Settings) -> str | None:
    """The Postgres URL run state lives at, or None for the workspace's SQLite files."""
    if settings.checkpointer != "sqlite" or settings.postgres_url:
        raise ConfigError(
            "the settings 'checkpointer' and 'postgres_url' are replaced by storage_url "
            '(e.g. storage_url = "postgresql://user@host/db", or CLAIMCOURT_STORAGE_URL), which keeps the '
            "ledger and reviews in Postgres too: set that and remove the old two"
        )
    return check_storage_url(settings.storage_url) if settings.storage_url else None
