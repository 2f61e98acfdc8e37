"""storage_url: where a run's state lives. None (the default) is the workspace's SQLite files."""

from __future__ import annotations

from urllib.parse import urlsplit

from claimcourt.errors import StorageError
from claimcourt.urls import shown_url

POSTGRES_SCHEMES = ("postgresql", "postgres")


def check_storage_url(url: str) -> str:
    """A Postgres URL, or a one-line StorageError saying what is wrong with it."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        raise StorageError(f"storage_url {shown_url(url)!r} is not a valid URL ({exc})") from exc
    if parts.scheme not in POSTGRES_SCHEMES:
        raise StorageError(
            f"storage_url {shown_url(url)!r}: only postgresql://user@host[:port]/database is supported "
            "(leave storage_url unset for the workspace's SQLite files)"
        )
    if not parts.path.strip("/"):
        raise StorageError(f"storage_url {shown_url(url)!r} names no database (postgresql://user@host/DATABASE)")
    return url
