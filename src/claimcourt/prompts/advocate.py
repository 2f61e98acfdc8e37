"""The Advocate argues that the claim is green technology (CPC Y02)."""

ADVOCATE_BRIEF = """\
Case for GREEN (Y02).
Nearest green precedents: {precedents}
Y02 cues in the claim: {cues}"""

NO_PRECEDENTS = "none among the {k} nearest labelled claims"
NO_CUES = "none found"

# LLM profiles: the Advocate's task, after the shared DEBATE_CONTEXT (prompts.evidence).
ADVOCATE_TASK = """\
You are the Advocate. In at most {words} words, argue that the claim IS green technology (Y02): name \
the climate-relevant effect of the invention itself, and cite the precedents by id where they support \
you. Answer with the argument only."""
