"""Reviewers at once: a claim on one person's screen is leased to them and shown to no one else,
until they decide, release it, or the lease expires."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from claimcourt.config import Settings
from claimcourt.errors import RunStateError
from claimcourt.review.desk import ReviewDesk
from claimcourt.state import HumanDecision
from tests.review_support import RUN_ID, counts, review_settings, review_ws, reviews

__all__ = ["review_settings", "review_ws"]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_two_reviewers_are_never_shown_the_same_claim(review_settings: Settings) -> None:
    async def go() -> None:
        async with ReviewDesk(review_settings, RUN_ID) as ann, ReviewDesk(review_settings, RUN_ID) as bob:
            first = ann.take_next("ann")
            second = bob.take_next("bob")
            assert first is not None and second is not None and first != second
            assert ann.take_next("ann") == first  # still hers: the same claim comes back
            assert ann.lease_holder(first) == "ann"
            with pytest.raises(RunStateError, match="is on ann's screen"):
                await bob.decide(
                    first, HumanDecision(label=1, reviewer="bob", note="read the claim"), source="interactive"
                )
            outcome = await ann.decide(
                first, HumanDecision(label=1, reviewer="ann", note="read the claim"), source="interactive"
            )
            assert outcome.status == "decided"
            assert ann.lease_holder(first) is None  # the decision ended the lease
            third = ann.take_next("ann")
            assert third not in (first, second, None)
            ann.release(third, "ann")
            assert bob.take_next("bob") == second
            assert ReviewDesk.take_next(bob, "cat") == third  # released: the next free claim

    run(go())


def test_an_expired_lease_is_taken_over_and_cannot_be_renewed(review_settings: Settings) -> None:
    """Leases long enough that none lapses while the test looks, but for ann's last renewal, made with a
    short one: the test waits until that one has run out (a condition read from the store, however
    slow the machine), never for a fixed time."""
    long = review_settings.model_copy(update={"review_lease_s": 600.0})
    short = review_settings.model_copy(update={"review_lease_s": 0.05})

    async def go() -> None:
        async with ReviewDesk(long, RUN_ID) as ann, ReviewDesk(long, RUN_ID) as bob:
            claim = ann.take_next("ann")
            assert claim is not None
            ann.renew(claim, "ann")
            assert bob.take_next("bob") != claim
            async with ReviewDesk(short, RUN_ID) as ann_last:
                ann_last.renew(claim, "ann")  # her last renewal; then her session dies
            while bob.lease_holder(claim) is not None:
                time.sleep(0.01)
            assert bob.take_next("bob") == claim  # first in order again, and free
            with pytest.raises(RunStateError, match="now on bob's screen: your lease on it lapsed"):
                ann.renew(claim, "ann")

    run(go())


def test_second_opinions_are_not_exclusive(review_settings: Settings) -> None:
    async def go() -> None:
        async with ReviewDesk(review_settings, RUN_ID) as desk:
            claim = desk.take_next("ann")
            await desk.decide(
                claim, HumanDecision(label=0, reviewer="ann", note="read the claim"), source="interactive"
            )
            assert desk.take_next("bob", second_opinion=True) == claim
            assert desk.take_next("cat", second_opinion=True) == claim

    run(go())


REVIEWER = """
import asyncio, sys
sys.path.insert(0, {src!r})
from claimcourt.config import load_settings
from claimcourt.review.desk import ReviewDesk
from claimcourt.state import HumanDecision
name, workspace, storage = sys.argv[1], sys.argv[2], sys.argv[3] or None

async def main():
    settings = load_settings(overrides={{"workspace": workspace, "storage_url": storage}}, environ={{}})
    async with ReviewDesk(settings, "r1") as desk:
        while (claim := desk.take_next(name)) is not None:
            decision = HumanDecision(label=1, reviewer=name, note="read the claim")
            outcome = await desk.decide(claim, decision, source="interactive")
            print(outcome.status, claim, flush=True)

asyncio.run(main())
"""


def reviewers_at_once(workspace: Path, tmp_path: Path, storage_url: str = "") -> list[list[str]]:
    """Two review processes working one run until nothing waits; each one's decided claim ids."""
    script = tmp_path / "reviewer.py"
    script.write_text(textwrap.dedent(REVIEWER.format(src=str(Path(__file__).resolve().parents[2] / "src"))))
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), name, str(workspace), storage_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("ann", "bob")
    ]
    decided: list[list[str]] = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        lines = [line.split() for line in out.splitlines()]
        assert all(status == "decided" for status, _ in lines), lines
        decided.append([claim for _, claim in lines])
    return decided


def test_two_review_processes_at_once_decide_every_claim_once(review_ws: Path, tmp_path: Path) -> None:
    ann, bob = reviewers_at_once(review_ws, tmp_path)
    assert not set(ann) & set(bob)
    assert len(ann) + len(bob) == 24
    assert counts(review_ws)["pending_review"] == 0 and counts(review_ws)["human"] == 24
    assert sorted(r["claim_id"] for r in reviews(review_ws)) == sorted(ann + bob)
