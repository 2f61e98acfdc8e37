"""Words the command line offers as choices, defined once where nothing heavy has to load to read
them: `claimcourt --help` builds every option from these without importing the settings or the store."""

from __future__ import annotations

from typing import Literal

# How the debaters and the Judge think (see config.Settings.profile): the name of a backend registered in
# `claimcourt.models.registry`, one of the built-ins or one registered beside them.
Profile = str
BuiltInProfile = Literal["offline", "hf", "endpoint"]
BUILT_IN_PROFILES: tuple[BuiltInProfile, ...] = ("offline", "hf", "endpoint")
# The order in which waiting claims are shown to a person (see review.queries).
Order = Literal["confidence", "file"]
# The nodes a claim's thread may be forked before (see trace.fork).
ForkPoint = Literal["advocate", "skeptic", "judge", "human_review", "finalize"]
