"""Gather concurrent single-item calls into batched calls.

The graph runs one thread per claim, many at once (`max_concurrency`). Each node asks for one thing
(an embedding, an argument, a verdict); a `MicroBatcher` collects what the concurrent claims ask for
and runs it as one batched call in a worker thread, so the event loop keeps collecting the next batch
while the current one computes. One batch is in flight at a time per batcher: the device it runs on
is the bottleneck, and a queue that fills while it works is what makes the next batch large.

Each batcher runs its batches on one thread of its own, always the same one. With a pool of threads
(`asyncio.to_thread`) each thread that ever ran a batch keeps its own malloc arena holding that batch's
peak working memory (an embedding batch's activations are hundreds of MiB), so resident memory grew
with the claims debated as more threads took turns; one thread keeps one arena.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass
class _Pending(Generic[In, Out]):
    item: In
    future: asyncio.Future[Out]


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    sizes: list[int] = field(default_factory=list)

    @property
    def mean_size(self) -> float:
        return self.items / self.batches if self.batches else 0.0


class MicroBatcher(Generic[In, Out]):
    """`await batcher.submit(item)` -> the result of `fn([... item ...])` for that item.

    `fn` takes a list of items and returns one result per item, in order. It runs in a worker thread.
    If it raises, every caller of that batch gets the exception.
    """

    def __init__(
        self,
        fn: Callable[[list[In]], Sequence[Out]],
        *,
        max_batch: int,
        max_wait_s: float = 0.002,
        linger_s: float = 0.0,
        quiet_s: float = 0.0,
        most_waiting: int | None = None,
        feeder: MicroBatcher[Any, Any] | None = None,
        thread: ThreadPoolExecutor | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        self._fn = fn
        self.max_batch = max_batch
        self._max_wait_s = max_wait_s
        # Keep gathering, up to `linger_s`, until no request arrived for `quiet_s`: when one batch costs
        # seconds (a GPU generation pass), a fuller batch is worth a fraction of a second of waiting.
        self._linger_s = linger_s
        self._quiet_s = max(quiet_s, max_wait_s)
        # The most items the callers can have waiting at once (e.g. two per claim debated at once): a
        # queue that holds that many is cut at once, since nobody is left to arrive.
        self._full = min(max_batch, most_waiting) if most_waiting else max_batch
        # A stage whose results are this batcher's items (e.g. prompts rendered before the pass): what
        # it still holds is on its way here, so the gather is not quiet while it works (up to linger_s).
        self._feeder = feeder
        self._in_flight = 0
        self._queue: list[_Pending[In, Out]] = []
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.stats = BatchStats()
        # `thread`: share one worker thread with other work on the same device (see the module doc).
        self.thread = thread or ThreadPoolExecutor(max_workers=1, thread_name_prefix="claimcourt-batch")

    @property
    def pending(self) -> int:
        """Items submitted whose results have not been delivered yet (queued or in the running batch)."""
        return len(self._queue) + self._in_flight

    def _arrived(self) -> int:
        return len(self._queue) + (self._feeder.pending if self._feeder is not None else 0)

    def _feeding(self) -> bool:
        return self._feeder is not None and self._feeder.pending > 0

    async def submit(self, item: In) -> Out:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # A new event loop (the next asyncio.run): what was queued on the old one is gone with it.
            self._queue, self._worker, self._loop, self._in_flight = [], None, loop, 0
        future: asyncio.Future[Out] = loop.create_future()
        self._queue.append(_Pending(item, future))
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            # Let the other claims that are ready reach their call before the batch is cut.
            if len(self._queue) < self._full:
                await asyncio.sleep(self._max_wait_s)
                waited = quiet = self._max_wait_s
                seen = self._arrived()
                while (
                    waited < self._linger_s
                    and (quiet < self._quiet_s or self._feeding())
                    and len(self._queue) < self._full
                ):
                    await asyncio.sleep(self._max_wait_s)
                    waited += self._max_wait_s
                    arrived = self._arrived()
                    quiet = quiet + self._max_wait_s if arrived == seen else 0.0
                    seen = arrived
            batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
            live = [p for p in batch if not p.future.cancelled()]
            if not live:
                continue
            self._in_flight = len(live)
            try:
                items = [p.item for p in live]
                results = await asyncio.get_running_loop().run_in_executor(self.thread, self._fn, items)
            except Exception as exc:  # delivered to every caller of this batch
                for p in live:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            finally:
                self._in_flight = 0
            if len(results) != len(live):
                error = RuntimeError(f"batched call returned {len(results)} results for {len(live)} items")
                for p in live:
                    if not p.future.done():
                        p.future.set_exception(error)
                continue
            self.stats.batches += 1
            self.stats.items += len(live)
            self.stats.sizes.append(len(live))
            for p, result in zip(live, results, strict=True):
                if not p.future.done():
                    p.future.set_result(result)
