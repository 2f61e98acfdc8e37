"""The offline debaters' briefs: the nearest precedents of each side and the Y02 cues of the claim.

Pure functions of the claim and its neighbours, so that the index can debate its own claims exactly as
a run does when it fits the Judge's weighing of the briefs (`models.offline.fit`).
"""

from __future__ import annotations

from claimcourt.models.cues import find_cues
from claimcourt.prompts import advocate as advocate_prompts
from claimcourt.prompts import skeptic as skeptic_prompts
from claimcourt.prompts.evidence import prompt_excerpt
from claimcourt.state import Argument, Neighbour, Role

BACKEND_NAME = "offline"


# Precedents quoted in a brief; the rest of those it cites are listed by id and similarity only.
_QUOTED = 5


def _precedents(neighbours: list[Neighbour], label: int, excerpt_chars: int) -> tuple[str, list[str]]:
    chosen = sorted((n for n in neighbours if n.label == label), key=lambda n: -n.similarity)
    if not chosen:
        return "", []
    lines = [
        f"\n  - {n.named} (similarity {n.similarity:.2f}): {prompt_excerpt(n.text, excerpt_chars)}"
        for n in chosen[:_QUOTED]
    ]
    if len(chosen) > _QUOTED:
        lines.append("\n  - also " + ", ".join(f"{n.named} ({n.similarity:.2f})" for n in chosen[_QUOTED:]))
    return "".join(lines), [n.id for n in chosen]


def offline_brief(
    role: Role, text: str, neighbours: list[Neighbour], excerpt_chars: int, template: str | None = None
) -> Argument:
    """One debater's brief from the claim and its precedents: pure, so that the index can debate its
    own claims the same way when it fits the Judge's weighing. `template`: the role's brief template
    (`prompts.roles`), by default the module's own."""
    k = len(neighbours)
    cues = find_cues(text)
    if role == "advocate":
        precedents, cited = _precedents(neighbours, 1, excerpt_chars)
        brief = (template or advocate_prompts.ADVOCATE_BRIEF).format(
            precedents=precedents or advocate_prompts.NO_PRECEDENTS.format(k=k),
            cues=", ".join(c.describe() for c in cues) or advocate_prompts.NO_CUES,
        )
    else:
        precedents, cited = _precedents(neighbours, 0, excerpt_chars)
        strong = [c.describe() for c in cues if c.strong]
        if not cues:
            assessment = skeptic_prompts.NO_CUES
        elif not strong:
            assessment = skeptic_prompts.ONLY_WEAK_CUES.format(cues=", ".join(c.found for c in cues))
        else:
            assessment = skeptic_prompts.STRONG_CUES.format(cues=", ".join(strong))
        brief = (template or skeptic_prompts.SKEPTIC_BRIEF).format(
            precedents=precedents or skeptic_prompts.NO_PRECEDENTS.format(k=k), cue_assessment=assessment
        )
    return Argument(role=role, text=brief, cues=[c.describe() for c in cues], cited=cited, backend=BACKEND_NAME)
