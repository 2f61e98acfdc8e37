"""`calibrate` after `learn`: only claims judged by the current Judge version and not used to fit it count.

Run 'rA' (audit rate 1, so every decided claim is in the calibration sample) is decided in full and
`learn` fits Judge v2 on those decisions. Run 'rB' debates the same claims again and run 'rC' others, both
judged by v2, and people decide them all. Without the rule, calibrate would count rA, rB and rC; with
it, only rC: rA was judged by v1, and v2 has seen the labels of rB's claims.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from claimcourt.cli.app import app
from claimcourt.config import Settings
from claimcourt.jobs.runner import Runner
from claimcourt.review.desk import ReviewDesk
from claimcourt.state import HumanDecision
from claimcourt.tables import ClaimTable
from tests.conftest import write_csv
from tests.review_support import review_settings, review_ws, waiting_states

__all__ = ["review_settings", "review_ws"]
cli = CliRunner()


def _run_and_decide(settings: Settings, tmp_path: Path, run_id: str, rows: list[dict[str, str]]) -> None:
    batch = write_csv(tmp_path / f"{run_id}.csv", rows)
    audited = settings.model_copy(update={"threshold": 0.999, "audit_rate": 1.0, "audit_seed": 7})
    asyncio.run(Runner(audited).run(ClaimTable(batch), run_id=run_id))

    async def decide() -> None:
        async with ReviewDesk(settings, run_id) as desk:
            for claim_id in desk.queue():
                # People on the hardest claims mostly say "not green" (see ../shared/data/README.md).
                decision = HumanDecision(label=0, reviewer="ann", note="the green effect is incidental")
                await desk.decide(claim_id, decision, source="interactive")

    asyncio.run(decide())


def _calibrate(settings: Settings, *run_ids: str) -> dict[str, object]:
    args = ["calibrate", "--json", "--no-save", "--min-n", "1", "--workspace", str(settings.workspace)]
    for run_id in run_ids:
        args += ["--run-id", run_id]
    result = cli.invoke(app, args)
    assert result.exit_code == 0, result.output
    payload: dict[str, object] = json.loads(result.stdout)
    return payload


def test_calibrate_counts_only_the_current_version_and_never_its_training_claims(
    review_settings: Settings, tmp_path: Path
) -> None:
    claims = [{"id": s.claim_id, "text": s.text} for s in waiting_states(review_settings.workspace)]
    trained, fresh = claims[:10], claims[10:18]
    _run_and_decide(review_settings, tmp_path, "rA", trained)
    assert _calibrate(review_settings, "rA")["total"] == len(trained)  # before learn: all count

    learned = cli.invoke(app, ["learn", "--workspace", str(review_settings.workspace)])
    assert learned.exit_code == 0, learned.output
    _run_and_decide(review_settings, tmp_path, "rB", trained)
    _run_and_decide(review_settings, tmp_path, "rC", fresh)

    assert _calibrate(review_settings, "rA", "rB", "rC")["total"] == len(fresh)
    both = cli.invoke(app, ["calibrate", "--no-save", "--run-id", "rB", "--workspace", str(review_settings.workspace)])
    assert both.exit_code == 2  # rB alone: nothing v2 was not fitted on
    assert "no calibration claims" in both.output
