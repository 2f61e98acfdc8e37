"""The optional parts of claimcourt and the extra (pyproject.toml) that installs each: one table, so
every "this needs a package you do not have" names the same fix, in one line."""

from __future__ import annotations

import importlib.util

from claimcourt.errors import MissingExtraError

# What each extra must make importable; the first module missing names the extra to install.
EXTRAS: dict[str, tuple[str, ...]] = {
    "web": ("fastapi", "starlette", "uvicorn", "jinja2", "multipart"),
    "postgres": ("psycopg", "psycopg_pool", "langgraph.checkpoint.postgres"),
    "endpoint": ("openai",),
    "gpu": ("bitsandbytes", "accelerate"),
    "train": ("datasets",),
}


def extra_for(module: str | None) -> str | None:
    """The extra that installs `module` (or a package it belongs to), None for any other module."""
    if not module:
        return None
    for extra, modules in EXTRAS.items():
        if any(module == m or module.startswith(m + ".") or m.startswith(module + ".") for m in modules):
            return extra
    return None


def missing(extra: str, what: str, module: str | None = None) -> MissingExtraError:
    lacking = f" ({module} is not installed)" if module else ""
    return MissingExtraError(f"{what} needs the {extra} extra{lacking}: pip install -e '.[{extra}]'")


def require(extra: str, what: str) -> None:
    """Raise MissingExtraError naming the fix unless every module of `extra` can be imported; imports
    nothing itself (beyond a dotted module's parents)."""
    for module in EXTRAS[extra]:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a dotted module whose parent package is missing
            found = False
        if not found:
            raise missing(extra, what, module)
