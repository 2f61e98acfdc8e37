"""The parts of a batch run that differ when several workers share it (Postgres storage).

The first worker (or any, idempotently: a worker killed while registering leaves the rest to the
next) registers every claim of the input with its text, so any worker on any machine can debate
any claim; then each worker leases chunks of queued claims (`store.work.take`) until none is left
queued by anyone. A heartbeat task keeps the worker's row and its leases fresh.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path

from claimcourt.config import Settings
from claimcourt.errors import DatabaseGoneError, RunStateError
from claimcourt.jobs.run_settings import recorded_settings
from claimcourt.store import Store
from claimcourt.tables import ClaimRow
from claimcourt.vocab import ClaimStatus

# A chunk as the runner debates it: its claims, the ids whose threads may exist already (reconcile
# them), and the statuses an earlier run left.
Chunk = tuple[list[ClaimRow], set[str], dict[str, ClaimStatus]]
Prefetch = Callable[[Iterable[str]], object]


def check_joins(store: Store, run_id: str, settings: Settings, input_file: Path) -> None:
    """A worker joins a run only with the run's own profile, threshold and (shared runs) input file."""
    run = store.ledger.run(run_id)
    for key, then, now in (
        ("profile", run.profile, settings.profile),
        ("threshold", run.threshold, settings.threshold),
        ("audit_rate", recorded_settings(run).get("audit_rate", 0.0), settings.audit_rate),
    ):
        if then != now:
            raise RunStateError(
                f"run '{run_id}' was started with {key} {then!r}, not {now!r}: resume it with the "
                "same settings, or start a new run with another --run-id"
            )
    if store.shared and run.input_file and Path(run.input_file).name != input_file.name:
        raise RunStateError(
            f"run '{run_id}' was started with input file {Path(run.input_file).name!r}, not "
            f"{input_file.name!r}: every worker of a run reads the same file (or start a new --run-id)"
        )


def register_claims(store: Store, run_id: str, chunks: Iterator[list[ClaimRow]]) -> None:
    if store.work.registered(run_id):
        return
    for chunk in chunks:
        store.ledger.add_claims(run_id, [(c.id, c.row) for c in chunk], texts=[c.text for c in chunk])
    store.work.mark_registered(run_id)


async def leased_chunks(
    store: Store, run_id: str, worker_id: str, *, count: int, settings: Settings, prefetch: Prefetch
) -> AsyncIterator[Chunk]:
    """Chunks leased to this worker until no claim of the run is left queued (by anyone)."""
    poll_s = min(1.0, settings.worker_lease_s / 4)
    handed: set[str] = set()
    while True:
        leased = store.retrying(
            lambda: store.work.take(run_id, worker_id, count=count, lease_s=settings.worker_lease_s)
        )
        if not leased:
            # Claims leased to this worker that it never received (a lease whose reply was lost when
            # the server went away): nobody else may take them while this worker's heartbeat renews them.
            leased = [c for c in store.retrying(lambda: store.work.held(run_id, worker_id)) if c.claim_id not in handed]
        if leased:
            rows = [ClaimRow(row=c.seq, id=c.claim_id, text=c.text) for c in leased]
            handed.update(c.id for c in rows)
            prefetch(c.text for c in rows)
            # Any leased claim may have been started by a worker killed since: read its thread first.
            yield rows, {c.id for c in rows}, {}
            continue
        if store.work.unfinished(run_id) == 0:
            return
        await asyncio.sleep(poll_s)  # the rest is leased to live workers (or expires soon)


async def beat(store: Store, run_id: str, worker_id: str, settings: Settings) -> None:
    """Heartbeat until cancelled: three beats per lease length. A database gone for good ends the beats
    quietly: the run finds it gone at its next write and says so."""
    while True:
        await asyncio.sleep(settings.worker_lease_s / 3)
        try:
            store.retrying(lambda: store.work.heartbeat(run_id, worker_id, lease_s=settings.worker_lease_s))
        except DatabaseGoneError:
            return
