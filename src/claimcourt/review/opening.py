"""Opening one run for review, and closing it: the store (ledger, reviews, leases), the run's own
settings, the backend and the claims' threads. Closing rewrites the run's results files when any claim
changed, so they carry the people's labels too.

The queue and leases (`review.queue`) and the decisions (`review.decisions`) work on an opened run;
`review.desk.ReviewDesk` is the one the faces open.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any, Self

from claimcourt.config import Settings
from claimcourt.deps import Deps, build_deps
from claimcourt.errors import RunStateError
from claimcourt.graph.builder import build_graph
from claimcourt.review.records import review_row
from claimcourt.review.threads import ClaimThreads
from claimcourt.state import ClaimState, HumanDecision
from claimcourt.store import (
    LedgerRun,
    Review,
    ReviewStore,
    Source,
    Store,
    existing_store,
    open_checkpointer,
    write_results,
)


class OpenRun:
    """One run's claims opened for review. Use as `async with OpenRun(settings, run_id) as run`.

    `on_wait(message)` is called once when the ledger is busy (a batch run is writing) and the run
    waits for it.
    """

    def __init__(
        self,
        settings: Settings,
        run_id: str,
        *,
        deps: Deps | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.run_id = run_id
        self.session_id = uuid.uuid4().hex[:12]
        self.on_wait = on_wait
        self._deps = deps
        self._stack = AsyncExitStack()
        # Whether any claim's state changed here (decided, undone, reconciled): the results file follows.
        self.changed = False
        self.state_store: Store
        self.threads: ClaimThreads
        self.deps: Deps
        self.run: LedgerRun

    async def __aenter__(self) -> Self:
        found = existing_store(self.settings)
        if found is None:
            raise RunStateError(f"no runs in workspace {self.settings.workspace} (run a batch first)")
        self.state_store = found
        self.state_store.db.on_wait = self.on_wait
        self._stack.callback(self.state_store.close)
        try:
            self.run = self.ledger.run(self.run_id)
            # The thread re-runs `human_review` on resume, which reads the threshold: use the run's own.
            run_settings = self.settings.model_copy(
                update={"threshold": self.run.threshold, "profile": self.run.profile or self.settings.profile}
            )
            self.deps = self._deps or build_deps(run_settings)
            saver = await self._stack.enter_async_context(open_checkpointer(self.settings))
            self.threads = ClaimThreads(build_graph(saver), self.deps, self.run_id)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self.changed:
                self.refresh_results()
        finally:
            await self._stack.aclose()

    @property
    def ledger(self) -> Any:
        return self.state_store.ledger

    @property
    def store(self) -> ReviewStore:
        """The reviews table (the name the desk has always given it)."""
        return self.state_store.reviews

    def refresh_results(self) -> None:
        """Rewrite the run's results files (its default one and every `run -o` file the ledger recorded)
        so they carry the people's labels too. A recorded file deleted since is not written again."""
        default = self.state_store.run_dir(self.run_id) / "results.csv"
        for csv_path in dict.fromkeys([default, *self.ledger.outputs(self.run_id)]):
            if csv_path.exists():
                write_results(self.state_store.ledger, self.run_id, csv_path, csv_path.with_suffix(".jsonl"))

    def review_of(
        self,
        state: ClaimState,
        decision: HumanDecision,
        *,
        resumed: bool,
        source: Source,
        shown: Sequence[str] | None,
        shown_at: str | None,
    ) -> Review:
        """The reviews row of a decision made in this session."""
        return review_row(
            state,
            decision,
            run_id=self.run_id,
            session_id=self.session_id,
            resumed=resumed,
            source=source,
            shown=shown,
            shown_at=shown_at,
        )
