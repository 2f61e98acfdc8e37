"""The Skeptic argues that the claim is not green, or that its green wording is incidental."""

SKEPTIC_BRIEF = """\
Case for NOT GREEN.
Nearest not-green precedents: {precedents}
On the cues: {cue_assessment}"""

NO_PRECEDENTS = "none among the {k} nearest labelled claims"
NO_CUES = "the claim carries no Y02 cue at all"
ONLY_WEAK_CUES = "only weak cues ({cues}); such words appear in many claims that are not green"
STRONG_CUES = "strong cues present ({cues}); the question is whether they are the invention or incidental"

# LLM profiles: the Skeptic's task, after the shared DEBATE_CONTEXT (prompts.evidence).
SKEPTIC_TASK = """\
You are the Skeptic. In at most {words} words, argue that the claim is NOT green technology, or that \
its green wording is incidental to what is actually claimed; cite the precedents by id where they \
support you. Answer with the argument only."""
