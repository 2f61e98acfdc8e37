"""The roles' templates as one value, so that they can be edited as configuration (LangGraph Studio shows
them on the advocate, skeptic and judge nodes) and handed to a backend, defaulting to the modules' own.

What "the prompt" of a role is depends on the profile:
- offline: the debaters' brief templates (`ADVOCATE_BRIEF`, `SKEPTIC_BRIEF`); its Judge is a fitted
  model that reads no prompt, so it has no template to edit;
- hf, endpoint: the debaters' tasks (`ADVOCATE_TASK`, `SKEPTIC_TASK`, after the shared debate context)
  and the Judge's task line (`JUDGE_TASK`, the first line of the adapter's instruction format).
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from claimcourt.errors import ConfigError
from claimcourt.prompts import advocate as advocate_prompts
from claimcourt.prompts import judge as judge_prompts
from claimcourt.prompts import skeptic as skeptic_prompts


@dataclass(frozen=True)
class RolePrompts:
    """The Advocate's, the Skeptic's and (None where the Judge reads none) the Judge's template."""

    advocate: str
    skeptic: str
    judge: str | None

    def checked(self, profile: str) -> RolePrompts:
        """These templates, or a ConfigError naming the role and the placeholder the profile cannot fill."""
        allowed = PLACEHOLDERS[profile]
        for role, template in (("advocate", self.advocate), ("skeptic", self.skeptic), ("judge", self.judge)):
            if template is None:
                continue
            try:
                names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
            except ValueError as exc:
                raise ConfigError(f"the {role} prompt is not a valid template: {exc}") from exc
            unknown = names - allowed[role]
            if unknown:
                raise ConfigError(
                    f"the {role} prompt has placeholder(s) {', '.join('{' + n + '}' for n in sorted(unknown))} "
                    f"that the {profile} profile cannot fill; it fills: "
                    + (", ".join("{" + n + "}" for n in sorted(allowed[role])) or "none")
                )
        if (self.judge is None) != (profile == "offline"):
            raise ConfigError(
                f"the {profile} profile's Judge {'reads no' if profile == 'offline' else 'needs a'} prompt"
            )
        return self


OFFLINE = RolePrompts(advocate=advocate_prompts.ADVOCATE_BRIEF, skeptic=skeptic_prompts.SKEPTIC_BRIEF, judge=None)
LLM = RolePrompts(
    advocate=advocate_prompts.ADVOCATE_TASK, skeptic=skeptic_prompts.SKEPTIC_TASK, judge=judge_prompts.JUDGE_TASK
)

_OFFLINE_FIELDS = {"advocate": {"precedents", "cues"}, "skeptic": {"precedents", "cue_assessment"}, "judge": set[str]()}
_LLM_FIELDS = {"advocate": {"words"}, "skeptic": {"words"}, "judge": set[str]()}
PLACEHOLDERS: dict[str, dict[str, set[str]]] = {"offline": _OFFLINE_FIELDS, "hf": _LLM_FIELDS, "endpoint": _LLM_FIELDS}


def default_prompts(profile: str) -> RolePrompts:
    """Today's templates for a profile."""
    return OFFLINE if profile == "offline" else LLM
