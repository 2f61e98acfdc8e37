"""Opening Chroma: a folder in the workspace (`PersistentClient`) or a `chroma run` server (`HttpClient`).

Whatever goes wrong underneath (a server that does not answer, a folder whose database is damaged) is
turned here into one error that names the setting or the folder and says what to do, so that no
command shows a Chroma or httpx traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claimcourt.errors import ConfigError, IndexStateError, StoreCorruptError
from claimcourt.urls import ChromaAddress, parse_chroma_url

# A server that is up answers its heartbeat in milliseconds; one that does not within this is not there.
_HEARTBEAT_TIMEOUT_S = 10.0
_START_HINT = "start one with `chroma run --path DIR --host HOST --port PORT`, or fix retrieval.chroma_url"


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _limit_requests(client: Any, timeout_s: float) -> None:
    """Give the client's requests a timeout: Chroma's HTTP client makes its httpx session with none and
    has no setting for one, so a server that stops answering mid-run (stopped, partitioned) would hang
    the command for ever. Its collections share this session. A timeout then fails the call as an
    httpx error, which `errors()` reports in one line. (Chroma keeps the session on its server API
    object; where a release keeps it elsewhere, requests stay as Chroma makes them.)"""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(timeout_s)


@dataclass(frozen=True)
class ChromaLocation:
    """Where the labelled claims live: exactly one of a workspace folder and a server URL."""

    folder: Path
    url: str | None = None
    # One request to a server (retrieval.chroma_timeout_s, which sets it); None: Chroma's own, no limit.
    timeout_s: float | None = None

    @property
    def is_server(self) -> bool:
        return self.url is not None

    @property
    def where(self) -> str:
        """How messages name the store."""
        return self.url if self.url is not None else str(self.folder)

    def open(self) -> Any:
        import chromadb

        settings = chromadb.Settings(anonymized_telemetry=False)
        if self.url is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            with self.errors():
                try:
                    return chromadb.PersistentClient(path=str(self.folder), settings=settings)
                except Exception:
                    # Chroma caches the half-opened system by path; the next open must try afresh.
                    from chromadb.api.shared_system_client import SharedSystemClient

                    SharedSystemClient.clear_system_cache()
                    raise
        address = parse_chroma_url(self.url)
        self._heartbeat(address)
        with self.errors():
            client = chromadb.HttpClient(host=address.host, port=address.port, ssl=address.ssl, settings=settings)
        if self.timeout_s is not None:
            _limit_requests(client, self.timeout_s)
        return client

    def _heartbeat(self, address: ChromaAddress) -> None:
        """Chroma's own client waits for ever on a server that never answers: ask first, with a timeout."""
        import httpx

        try:
            response = httpx.get(f"{address.url}/api/v2/heartbeat", timeout=_HEARTBEAT_TIMEOUT_S)
            response.raise_for_status()
            response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ConfigError(
                f"retrieval.chroma_url '{self.url}': no Chroma server answers there ({_reason(exc)}); {_START_HINT}"
            ) from exc

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Chroma's and httpx's failures as one line that names this store."""
        import chromadb.errors
        import httpx

        try:
            yield
        except IndexStateError:
            raise
        except httpx.HTTPError as exc:
            raise ConfigError(
                f"retrieval.chroma_url '{self.url}': the Chroma server stopped answering ({_reason(exc)}); "
                f"{_START_HINT}"
            ) from exc
        except chromadb.errors.InternalError as exc:
            if self.url is not None:
                raise IndexStateError(f"{self.url}: the Chroma server failed ({_reason(exc)})") from exc
            raise StoreCorruptError(
                f"{self.folder}: the Chroma database in this folder cannot be read ({_reason(exc)}); "
                "`claimcourt index FILE` rebuilds the store (it sets this folder aside first)",
                folder=self.folder,
            ) from exc
