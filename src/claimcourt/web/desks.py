"""The web app's one way to reach the review desk: one open `ReviewDesk` per run for the app's life,
one operation on it at a time, and claims leased to one reviewer while they are on that person's screen.

The desk shares one SQLite connection between the requests of a run, and a decision awaits the claim's
thread while holding the ledger's write transaction: the per-run lock keeps another request's
statements out of that transaction, so one decision is one transaction.

Leases are the desk's (`take_next` / `renew` / `release`, kept in the store, so a claim on a web
reviewer's screen is also withheld from the terminal app and from another server on the same run).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from claimcourt.config import Settings
from claimcourt.errors import RunStateError
from claimcourt.review.desk import WAITING, Order, ReviewDesk


class Leases:
    """The desk's reviewer leases (the store's: one claim on one screen, across processes), and what the
    page adds: passing over the claims this session skipped."""

    def __init__(self, desk: ReviewDesk) -> None:
        self.desk = desk

    def holder(self, claim_id: str) -> str | None:
        return self.desk.lease_holder(claim_id)

    def take_next(
        self,
        reviewer: str,
        *,
        second_opinion: bool = False,
        order: Order = "confidence",
        skip: Collection[str] = (),
    ) -> str | None:
        if not skip:
            return self.desk.take_next(reviewer, second_opinion=second_opinion, order=order)
        queue = self.desk.queue(order=order, second_opinion=second_opinion, reviewer=reviewer)
        candidates = [claim_id for claim_id in queue if claim_id not in skip]
        if second_opinion:  # not exclusive, as in the desk's own take_next
            return candidates[0] if candidates else None
        desk = self.desk
        return desk.state_store.review_leases.take_first(
            desk.run_id,
            candidates,
            reviewer,
            lease_s=desk.settings.review_lease_s,
            still_wanted=lambda claim_id: desk.ledger.statuses(desk.run_id, [claim_id]).get(claim_id) == WAITING,
        )

    def take(self, claim_id: str, reviewer: str, *, second_opinion: bool = False) -> bool:
        """Lease one given claim (an undone decision coming back to its reviewer), unless another holds it."""
        return second_opinion or self.renew(claim_id, reviewer)

    def renew(self, claim_id: str, reviewer: str) -> bool:
        """Keep the lease (or take it again if it lapsed and nobody took it meanwhile); False if someone did."""
        try:
            self.desk.renew(claim_id, reviewer)
        except RunStateError:
            return False
        return True

    def release(self, claim_id: str, reviewer: str) -> None:
        self.desk.release(claim_id, reviewer)


@dataclass
class OpenDesk:
    desk: ReviewDesk
    leases: Leases
    lock: asyncio.Lock


class Desks:
    """Every run's desk, opened on first use and closed with the app (see `open_desks`)."""

    def __init__(self, settings: Settings, *, only_run: str | None = None) -> None:
        self.settings = settings
        self.only_run = only_run
        self._stack = AsyncExitStack()
        self._open: dict[str, OpenDesk] = {}
        self._opening = asyncio.Lock()

    async def _get(self, run_id: str) -> OpenDesk:
        if self.only_run is not None and run_id != self.only_run:
            raise RunStateError(f"this server serves run '{self.only_run}' only, not '{run_id}'")
        async with self._opening:
            found = self._open.get(run_id)
            if found is None:
                desk = await self._stack.enter_async_context(ReviewDesk(self.settings, run_id))
                # A session killed between a thread write and its ledger commit is set right first.
                await desk.reconcile()
                found = self._open[run_id] = OpenDesk(desk, Leases(desk), asyncio.Lock())
            return found

    @asynccontextmanager
    async def use(self, run_id: str) -> AsyncIterator[OpenDesk]:
        """The run's desk, for one operation; nobody else uses it meanwhile."""
        found = await self._get(run_id)
        async with found.lock:
            yield found

    async def aclose(self) -> None:
        await self._stack.aclose()
        self._open.clear()
