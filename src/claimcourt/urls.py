"""Secrets in URLs: one way to show a URL to a person, one way to keep it in a record.

A password can sit in a URL's userinfo (`postgresql://user:PASS@host/db`), in a query parameter
(`?password=PASS`, `?sslpassword=PASS`, or a token or key), or in a libpq keyword string
(`host=h password=PASS`). `shown_url` puts `***` in its place for messages, logs and traces;
`stored_url` drops it, for anything written down (a run's recorded settings): a record is read by
whoever can read the table or a backup, and the secret is never needed again from there (a worker
gets its own URL from its flags or environment). `without_secrets` applies `stored_url` to every
string of a JSON-like value.

The URL parsers that check a URL's shape live with what they check (`store.urls` for storage_url,
`retrieval.chroma_client` for Chroma, `config` for an endpoint); each shows the URL through
`shown_url`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

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
