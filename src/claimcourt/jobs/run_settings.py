"""The settings a run keeps: resolved once when it starts, recorded in the ledger, reused on resume.

- A calibrated threshold (`--threshold calibrated[:NAME]`) becomes the calibration's number; a resumed
  run keeps the calibration it started with, even when a newer one was saved since.
- The audit seed: the one given, else the one the run recorded, else a fresh random one. Recorded, so
  that a resumed run draws the same audit claims.
"""

from __future__ import annotations

import secrets
from typing import Any

from claimcourt.config import Settings
from claimcourt.eval.calibrations import resolve_threshold
from claimcourt.store import LedgerRun


def recorded_settings(run: LedgerRun | None) -> dict[str, Any]:
    return run.recorded_settings() if run else {}


def resolve_run_settings(settings: Settings, run: LedgerRun | None) -> Settings:
    """`run`: the ledger's row of this run when it exists (a resume), else None."""
    before = recorded_settings(run)
    if settings.calibration is not None and before.get("calibration"):
        settings = settings.model_copy(update={"calibration": before["calibration"]})
    settings = resolve_threshold(settings)
    if settings.audit_seed is None:
        seed = before.get("audit_seed")
        chosen = int(seed) if seed is not None else secrets.randbelow(2**31)
        settings = settings.model_copy(update={"audit_seed": chosen})
    return settings
