"""The interface every backend implements: offline evidence, hf local models, a served endpoint.

Nodes call these with the claim's state; each method handles one claim and may be awaited by many
claims at once. Backends that run models gather those concurrent calls into batches underneath
(see `claimcourt.batching.MicroBatcher`), so the graph can stay one thread per claim.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from claimcourt.state import Argument, ClaimState, Role, Verdict


@runtime_checkable
class DebateBackend(Protocol):
    """Thinks for the Advocate, the Skeptic and the Judge."""

    name: str

    def check_ready(self) -> None:
        """Raise a ClaimcourtError if the backend cannot work (missing files, settings); cheap, loads
        no model. Called once before a run starts, so a bad setup fails before any claim."""
        ...

    async def argue(self, role: Role, state: ClaimState) -> Argument:
        """The Advocate's (role='advocate') or the Skeptic's (role='skeptic') argument."""
        ...

    async def judge(self, state: ClaimState) -> Verdict:
        """Weigh both arguments and the neighbours. An unreadable verdict has readable=False."""
        ...
