"""The Y02 cue lexicon (kept as data in `claimcourt/data/y02_cues.toml`) and matching against it."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

Y02_SUBCLASSES = ("Y02A", "Y02B", "Y02C", "Y02D", "Y02E", "Y02P", "Y02T", "Y02W")


@dataclass(frozen=True)
class Cue:
    subclass: str
    phrase: str
    strong: bool
    pattern: re.Pattern[str]
    probe: str  # a literal that every match contains


@dataclass(frozen=True)
class CueMatch:
    subclass: str
    phrase: str  # the lexicon entry
    found: str  # the words in the claim
    strong: bool

    def describe(self) -> str:
        return f"{self.subclass} '{self.found}'" + ("" if self.strong else WEAK_MARK)


# How a described cue says it is weak; `is_weak_cue` reads it back from an Argument's cues.
WEAK_MARK = " (weak)"


def is_weak_cue(described: str) -> bool:
    return described.endswith(WEAK_MARK)


def _compile(phrase: str) -> re.Pattern[str]:
    parts = [re.escape(word.rstrip("*")) + (r"\w*" if word.endswith("*") else "") for word in phrase.split()]
    return re.compile(r"\b" + r"[\s-]+".join(parts) + r"\b", re.IGNORECASE)


@lru_cache(maxsize=1)
def lexicon() -> tuple[dict[str, str], tuple[Cue, ...]]:
    """(subclass -> title, cues). Read once, on first use."""
    raw = tomllib.loads(resources.files("claimcourt.data").joinpath("y02_cues.toml").read_text("utf-8"))
    titles: dict[str, str] = {}
    cues: list[Cue] = []
    for subclass in Y02_SUBCLASSES:
        section = raw[subclass]
        titles[subclass] = section["title"]
        for strong, key in ((True, "strong"), (False, "weak")):
            cues.extend(
                Cue(subclass, phrase, strong, _compile(phrase), phrase.split()[0].rstrip("*").lower())
                for phrase in section.get(key, [])
            )
    return titles, tuple(cues)


@lru_cache(maxsize=4096)
def _find_cues(text: str) -> tuple[CueMatch, ...]:
    _, cues = lexicon()
    lowered = text.lower()
    matches: list[CueMatch] = []
    for cue in cues:
        # A plain substring test first: most cues are absent from most claims, and `in` is far
        # cheaper than a regex search.
        if cue.probe not in lowered:
            continue
        hit = cue.pattern.search(text)
        if hit:
            matches.append(CueMatch(cue.subclass, cue.phrase, hit.group(0).lower(), cue.strong))
    matches.sort(key=lambda m: (not m.strong, m.subclass))
    return tuple(matches)


def find_cues(text: str) -> list[CueMatch]:
    """Every lexicon cue in `text`, strongest first; one match per (subclass, phrase). Cached: the
    Advocate and the Skeptic read the same claim."""
    return list(_find_cues(text))
