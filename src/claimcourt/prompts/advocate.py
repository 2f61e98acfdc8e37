"""The Advocate argues that the claim is green technology (CPC Y02)."""

ADVOCATE_BRIEF = """\
Case for GREEN (Y02).
Nearest green precedents: {precedents}
Y02 cues in the claim: {cues}"""

NO_PRECEDENTS = "none among the {k} nearest labelled claims"
NO_CUES = "none found"
