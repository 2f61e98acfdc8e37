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
