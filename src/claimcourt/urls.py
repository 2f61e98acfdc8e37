"""Secrets in URLs: one way to show a URL to a person, one way to keep it in a record.

A password can sit in a URL's userinfo (`postgresql://user:PASS@host/db`), in a query parameter
(`?password=PASS`, `?sslpassword=PASS`, or a token or key), or in a libpq keyword string
(`host=h password=PASS`). `shown_url` puts `***` in its place for messages, logs and traces;
`stored_url` drops it, for anything written down (a run's recorded settings): a record is read by
whoever can read the table or a backup, and the secret is never needed again from there (a worker
gets its own URL from its flags or environment). `without_secrets` applies `stored_url` to every
string of a JSON-like value.

The one home of URL parsing too: the shape of every URL a setting may hold is checked here (a Chroma
server's, storage_url's, an endpoint's), each message showing the URL through `shown_url`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from claimcourt.errors import StorageError

HIDDEN = "***"
# Query parameters and libpq keywords whose value is a secret (compared case-insensitively).
SECRET_KEYS = ("password", "sslpassword", "passwd", "pwd", "token", "access_token", "api_key", "apikey", "secret")
_KEYS = "|".join(SECRET_KEYS)
_QUERY_SECRET = re.compile(rf"(?i)(^|[?&;])({_KEYS})=[^&;#]*")
# libpq's keyword/value form: password=PASS or password='PA SS' (with \' inside quotes).
_KEYWORD_SECRET = re.compile(rf"(?i)(^|\s)({_KEYS})\s*=\s*('(?:[^'\\]|\\.)*'|\S*)")
# userinfo when the URL cannot be parsed (a bracket left open, say): scheme://user:PASS@
_USERINFO_SECRET = re.compile(r"(://[^:/?#@\s]*):[^\s]*@")


def _looks_like_url(text: str) -> bool:
    return "://" in text


def _rewrite(url: str, replacement: str | None) -> str:
    """The URL with each secret replaced by `replacement`, or removed with its key when None."""
    if not _looks_like_url(url):
        if replacement is None:
            return " ".join(_KEYWORD_SECRET.sub(r"\1", url).split())
        return _KEYWORD_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}={replacement}", url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        hidden = _USERINFO_SECRET.sub(r"\1" + (f":{replacement}@" if replacement is not None else "@"), url)
        return _QUERY_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}={replacement or ''}", hidden)
    netloc = parts.netloc
    if parts.password is not None:
        user, _, host = netloc.rpartition("@")
        name = user.partition(":")[0]
        netloc = f"{name}:{replacement}@{host}" if replacement is not None else f"{name}@{host}"
    query = parts.query
    if replacement is None:
        query = "&".join(p for p in re.split("[&;]", query) if p and not _QUERY_SECRET.fullmatch(p))
    else:
        query = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}={replacement}", query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def shown_url(url: str) -> str:
    """The URL for a person to read: every password, token or key in it shown as ***."""
    return _rewrite(url, HIDDEN)


def stored_url(url: str) -> str:
    """The URL to keep in a record: every password, token or key removed (with its key)."""
    return _rewrite(url, None)


def hidden_in(text: str, url: str) -> str:
    """`text` (a driver's error about `url`, which may quote part of it) with every secret of `url`,
    as written or decoded, shown as ***."""
    for secret in sorted(_secrets_of(url), key=len, reverse=True):
        text = text.replace(secret, HIDDEN)
    return text


def _secrets_of(url: str) -> set[str]:
    found: set[str] = set()
    for match in _KEYWORD_SECRET.finditer(url) if not _looks_like_url(url) else ():
        found.add(match.group(3).strip("'"))
    if _looks_like_url(url):
        user = url.partition("://")[2].split("/", 1)[0].rpartition("@")[0]
        if ":" in user:
            found.add(user.partition(":")[2])
        query = url.partition("?")[2]
        found.update(v for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() in SECRET_KEYS)
        found.update(m.group(0).partition("=")[2] for m in _QUERY_SECRET.finditer(query))
    found |= {unquote(s) for s in found}
    return {s for s in found if s}


def without_secrets(value: Any) -> Any:
    """A JSON-like value with `stored_url` applied to every string in it that holds a URL or a secret
    keyword."""
    if isinstance(value, dict):
        return {key: without_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [without_secrets(item) for item in value]
    if isinstance(value, str) and (_looks_like_url(value) or _KEYWORD_SECRET.search(value)):
        return stored_url(value)
    return value


@dataclass(frozen=True)
class ChromaAddress:
    host: str
    port: int
    ssl: bool

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address
        return f"{'https' if self.ssl else 'http'}://{host}:{self.port}"


def parse_chroma_url(url: str) -> ChromaAddress:
    """`http://host:8000` or `https://host`; the port defaults to Chroma's 8000 (443 with https, as behind
    a TLS proxy). ValueError says what is wrong."""
    shown = shown_url(url)
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"'{shown}' is not an http:// or https:// URL of a Chroma server")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"'{shown}' has a port that is not a number from 0 to 65535") from None
    if not parts.hostname:
        raise ValueError(f"'{shown}' names no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"'{shown}' must be only scheme, host and port (like http://host:8000)")
    ssl = parts.scheme == "https"
    return ChromaAddress(parts.hostname, port or (443 if ssl else 8000), ssl)


POSTGRES_SCHEMES = ("postgresql", "postgres")


def check_storage_url(url: str) -> str:
    """storage_url, where a run's state lives: a Postgres URL, or a one-line StorageError saying what is
    wrong with it (None, the default, is the workspace's SQLite files and never comes here)."""
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


def check_endpoint_url(url: str) -> str:
    """An OpenAI-compatible server's base URL, without its trailing slash; ValueError says what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{shown_url(url)!r} is not an http(s) URL (e.g. http://gpu-node:8000/v1)")
    return url.rstrip("/")
