"""The Judge weighs both cases and the precedents."""

from claimcourt.prompts.evidence import defuse

JUDGE_RATIONALE = """\
p_green {p_green:.2f}: {knn_share:.0%} x similarity-weighted vote of {k} neighbours ({knn:.2f}; \
{n_green} green, {n_not_green} not green) + {lr_share:.0%} x classifier on the claim embedding ({logreg:.2f}). \
{strongest}{cues}"""
# The offline Judge with a weighing of the briefs fitted at index time (`models.evidence`).
JUDGE_WEIGHED_RATIONALE = """\
p_green {p_green:.2f}, weighing the briefs: the Advocate cites {green} green precedents, the Skeptic \
{not_green} not-green ones; {strong} strong and {weak} weak Y02 cues; the classifier on the claim \
embedding says {logreg:.2f}. Moved most by (log-odds, + towards green): {moved}."""

# --- LLM profiles -------------------------------------------------------------------------------
# The Judge adapter (QLoRA on Mistral-7B) was trained on exactly this instruction format:
#     ### Task: ...\n### Claim:\n<claim>\n### Answer: YES / NO
# The debate adds sections between the task and the claim, so the prompt still ends the way the
# adapter learned: the claim, then `### Answer:`; p_green is read from the next token's logits.
JUDGE_TASK = "### Task: Classify the following patent claim as green technology (Y02) or not."
JUDGE_PROMPT = """\
{task}
### Similar labelled claims:
{precedents}
### Advocate (argues green):
{advocate}
### Skeptic (argues not green):
{skeptic}
### Claim:
{claim}
### Answer:"""
JUDGE_YES = " YES"
JUDGE_NO = " NO"
# Forced after the label token, so the rationale continues the adapter's format instead of stopping.
JUDGE_RATIONALE_HEADER = "\n### Rationale:"
NO_ARGUMENT = "(no argument)"

# The JSON path, for models whose logits cannot be read (an endpoint) or are not trained for the format.
JUDGE_JSON_TASK = """\
You are the Judge. Weigh the Advocate's and the Skeptic's arguments and the precedents, and decide \
whether the claim is green technology (Y02).

Advocate (argues green):
{advocate}

Skeptic (argues not green):
{skeptic}

Reply with one JSON object and nothing else:
{{"label": "green" or "not green", "confidence": a number from 0.5 to 1.0, "rationale": "one or two sentences"}}"""

JUDGE_JSON_REPAIR = """\
Your reply could not be used: {error}
Reply again with only one JSON object of the form \
{{"label": "green" or "not green", "confidence": 0.5 to 1.0, "rationale": "..."}}."""


def argument_text(text: str | None) -> str:
    """A debater's argument as the Judge reads it (model output is outside text too)."""
    return defuse(text.strip()) if text and text.strip() else NO_ARGUMENT


def judge_prompt(
    *, precedents: str, advocate: str | None, skeptic: str | None, claim: str, task: str = JUDGE_TASK
) -> str:
    """The adapter's instruction format, ending at `### Answer:`; texts already cut to their budgets.
    `task`: its first line (an edited one comes from `prompts.roles`)."""
    return JUDGE_PROMPT.format(
        task=task,
        precedents=precedents,
        advocate=argument_text(advocate),
        skeptic=argument_text(skeptic),
        claim=defuse(claim.strip()),
    )


def judge_json_task(*, advocate: str | None, skeptic: str | None) -> str:
    return JUDGE_JSON_TASK.format(advocate=argument_text(advocate), skeptic=argument_text(skeptic))
