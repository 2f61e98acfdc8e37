"""The web app's one way to reach the review desk: one open `ReviewDesk` per run for the app's life,
one operation on it at a time, and claims leased to one reviewer while they are on that person's screen.

The desk shares one SQLite connection between the requests of a run, and a decision awaits the claim's
thread while holding the ledger's write transaction: the per-run lock keeps another request's
statements out of that transaction, so one decision is one transaction.

Leases are the desk's `take_next` / `renew` / `release` where the desk has them (the store's reviewer
leases); until then a lease table in this process stands in, which is enough for one server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from claimcourt.config import Settings
from claimcourt.errors import RunStateError
from claimcourt.review.desk import Order, ReviewDesk

# How long a claim stays leased to a reviewer without a sign of life from their page (the page renews
# it every minute): a closed laptop gives the claim back to the others after this.
LEASE_SECONDS = 300.0


@dataclass
class _Lease:
    reviewer: str
    second_opinion: bool
    expires: float


class Leases:
    """claim id -> who holds it and until when (one run)."""

    def __init__(
        self, desk: ReviewDesk, *, seconds: float = LEASE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.desk = desk
        self.seconds = seconds
        self.clock = clock
        self._held: dict[str, _Lease] = {}

    def _expire(self) -> None:
        now = self.clock()
        for claim_id in [c for c, lease in self._held.items() if lease.expires <= now]:
            del self._held[claim_id]

    def holder(self, claim_id: str) -> str | None:
        self._expire()
        lease = self._held.get(claim_id)
        return lease.reviewer if lease else None

    def take_next(
        self,
        reviewer: str,
        *,
        second_opinion: bool = False,
        order: Order = "confidence",
        skip: Collection[str] = (),
    ) -> str | None:
        """The next claim for this reviewer, leased to them: one they already hold first, else the first
        of the queue that nobody holds and that they did not skip."""
        self._expire()
        queue = self.desk.queue(order=order, second_opinion=second_opinion, reviewer=reviewer)
        for claim_id in queue:
            lease = self._held.get(claim_id)
            if lease is not None and lease.reviewer == reviewer and lease.second_opinion == second_opinion:
                lease.expires = self.clock() + self.seconds
                return claim_id
        for claim_id in queue:
            if claim_id in self._held or claim_id in skip:
                continue
            self._held[claim_id] = _Lease(reviewer, second_opinion, self.clock() + self.seconds)
            return claim_id
        return None

    def take(self, claim_id: str, reviewer: str, *, second_opinion: bool = False) -> bool:
        """Lease one given claim (an undone decision coming back to its reviewer), if nobody else holds it."""
        self._expire()
        lease = self._held.get(claim_id)
        if lease is not None and lease.reviewer != reviewer:
            return False
        self._held[claim_id] = _Lease(reviewer, second_opinion, self.clock() + self.seconds)
        return True

    def renew(self, claim_id: str, reviewer: str) -> bool:
        self._expire()
        lease = self._held.get(claim_id)
        if lease is None or lease.reviewer != reviewer:
            return False
        lease.expires = self.clock() + self.seconds
        return True

    def release(self, claim_id: str, reviewer: str) -> None:
        lease = self._held.get(claim_id)
        if lease is not None and lease.reviewer == reviewer:
            del self._held[claim_id]

    def held_by(self, reviewer: str) -> list[str]:
        self._expire()
        return [c for c, lease in self._held.items() if lease.reviewer == reviewer]


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
