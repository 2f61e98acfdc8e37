"""A claim's text as HTML with the Y02 cues marked: every piece of the text is escaped, only the
`<mark>` elements around cue words are ours."""

from __future__ import annotations

from markupsafe import Markup, escape

from claimcourt.display import visible
from claimcourt.models.cues import find_cues, lexicon


def cue_spans(text: str) -> list[tuple[int, int, str, bool]]:
    """(start, end, subclass, strong) of every cue occurrence, overlaps resolved in favour of the
    earlier, then the longer one."""
    found = {(m.subclass, m.phrase) for m in find_cues(text)}
    _, cues = lexicon()
    spans: list[tuple[int, int, str, bool]] = []
    for cue in cues:
        if (cue.subclass, cue.phrase) not in found:
            continue
        spans.extend((hit.start(), hit.end(), cue.subclass, cue.strong) for hit in cue.pattern.finditer(text))
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0]), not s[3]))
    kept: list[tuple[int, int, str, bool]] = []
    for span in spans:
        if kept and span[0] < kept[-1][1]:
            continue
        kept.append(span)
    return kept


def highlighted(text: str) -> Markup:
    """The claim with its cues in `<mark class="cue ...">`; everything else is text, never markup."""
    shown = visible(text)
    titles, _ = lexicon()
    parts: list[str] = []
    at = 0
    for start, end, subclass, strong in cue_spans(shown):
        parts.append(str(escape(shown[at:start])))
        kind = "strong" if strong else "weak"
        title = f"{subclass}: {titles.get(subclass, '')}" + ("" if strong else " (weak cue)")
        parts.append(f'<mark class="cue {kind}" title="{escape(title)}">{escape(shown[start:end])}</mark>')
        at = end
    parts.append(str(escape(shown[at:])))
    return Markup("".join(parts))
