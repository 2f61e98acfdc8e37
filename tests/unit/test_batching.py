from __future__ import annotations

import asyncio

import pytest

from claimcourt.batching import MicroBatcher


def test_concurrent_calls_are_gathered_and_answered_in_order() -> None:
    seen: list[list[int]] = []

    def square(items: list[int]) -> list[int]:
        seen.append(items)
        return [i * i for i in items]

    async def main() -> list[int]:
        batcher = MicroBatcher(square, max_batch=8)
        return await asyncio.gather(*(batcher.submit(i) for i in range(20)))

    assert asyncio.run(main()) == [i * i for i in range(20)]
    assert sum(len(b) for b in seen) == 20
    assert max(len(b) for b in seen) == 8  # batched, never above the cap
    assert len(seen) <= 4


def test_a_failing_batch_fails_its_callers_only() -> None:
    def fn(items: list[int]) -> list[int]:
        if 3 in items:
            raise RuntimeError("boom")
        return items

    async def main() -> tuple[object, int]:
        batcher = MicroBatcher(fn, max_batch=1)
        results = await asyncio.gather(batcher.submit(3), batcher.submit(4), return_exceptions=True)
        return results[0], results[1]  # type: ignore[return-value]

    failed, ok = asyncio.run(main())
    assert isinstance(failed, RuntimeError)
    assert ok == 4


def test_wrong_result_count_is_an_error_not_a_silent_mismatch() -> None:
    async def main() -> None:
        batcher = MicroBatcher(lambda items: items[:-1], max_batch=4)
        await asyncio.gather(batcher.submit(1), batcher.submit(2))

    with pytest.raises(RuntimeError, match="returned 1 results for 2 items"):
        asyncio.run(main())


def test_a_queue_holding_every_possible_caller_is_cut_without_the_quiet_wait() -> None:
    """Four callers at most (say two claims, two requests each): once all four wait, nobody else can
    come, so the batch runs at once instead of after the quiet period. Fewer than that: it waits.
    The quiet period is an hour where it must not hold (the batch running at all shows it was cut; the
    bound of a minute only ends a failing test), and a short one where it must."""
    import time

    async def main(most_waiting: int | None, callers: int, quiet_s: float) -> tuple[float, list[list[int]]]:
        seen: list[list[int]] = []

        def record(items: list[int]) -> list[int]:
            seen.append(items)
            return items

        batcher = MicroBatcher(record, max_batch=64, linger_s=2 * quiet_s, quiet_s=quiet_s, most_waiting=most_waiting)
        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(batcher.submit(i) for i in range(callers))), timeout=60)
        return time.perf_counter() - started, seen

    _, seen = asyncio.run(main(most_waiting=4, callers=4, quiet_s=3600.0))
    assert seen == [[0, 1, 2, 3]]
    elapsed, seen = asyncio.run(main(most_waiting=4, callers=3, quiet_s=1.5))
    assert seen == [[0, 1, 2]] and elapsed >= 1.5  # one may still come: the quiet period holds
    elapsed, seen = asyncio.run(main(most_waiting=None, callers=4, quiet_s=1.5))
    assert seen == [[0, 1, 2, 3]] and elapsed >= 1.5


def test_a_gather_is_not_quiet_while_the_stage_before_it_still_works() -> None:
    """Items reach the second stage in bursts, one per first-stage batch: told of its feeder, the second
    stage waits for every burst and runs one batch; left alone, it cuts after the first burst. Left
    alone, the first stage's later batches wait until the second stage has cut (an event, not a clock),
    so no other burst can arrive in its quiet period however slow the machine; told of its feeder, each
    first-stage batch takes 0.4 s, twice the quiet period, and the feeder keeps the gather open."""
    import threading
    import time

    async def main(fed: bool) -> list[int]:
        sizes: list[int] = []
        cut = threading.Event()
        batches = 0

        def slow(items: list[int]) -> list[int]:
            nonlocal batches
            batches += 1
            if fed:
                time.sleep(0.4)
            elif batches > 1:
                assert cut.wait(timeout=60)
            return items

        def record(items: list[int]) -> list[int]:
            sizes.append(len(items))
            cut.set()
            return items

        first = MicroBatcher(slow, max_batch=2)
        second = MicroBatcher(record, max_batch=64, linger_s=600.0, quiet_s=0.2, feeder=first if fed else None)

        async def both(i: int) -> int:
            return await second.submit(await first.submit(i))

        assert await asyncio.gather(*(both(i) for i in range(6))) == list(range(6))
        return sizes

    assert asyncio.run(main(fed=True)) == [6]
    assert asyncio.run(main(fed=False))[0] == 2
