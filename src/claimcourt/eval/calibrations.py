"""Named calibrations kept in the workspace (`<workspace>/calibrations/<name>.json`), and turning a
`--threshold calibrated[:NAME]` into the number a run uses.

A run resolves the reference once, when it starts: the ledger then records the threshold as a number
and, in the run's settings, the name of the calibration it came from. A resumed run keeps them.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from claimcourt.config import LATEST_CALIBRATION, Settings
from claimcourt.errors import ConfigError
from claimcourt.eval.guarantee import GuaranteedThreshold

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")


@dataclass(frozen=True)
class SavedCalibration:
    name: str
    created_at: str
    result: dict[str, Any]  # GuaranteedThreshold as a dict
    sources: list[str]

    @property
    def threshold(self) -> float | None:
        value = self.result.get("threshold")
        return float(value) if value is not None else None


def calibrations_dir(workspace: Path) -> Path:
    return workspace / "calibrations"


def default_name() -> str:
    return "cal-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def check_name(name: str) -> str:
    if name == LATEST_CALIBRATION or not _NAME.match(name):
        raise ConfigError(
            f"calibration name {name!r}: use letters, digits, '.', '_' or '-' (not '{LATEST_CALIBRATION}')"
        )
    return name


def save_calibration(workspace: Path, name: str, result: GuaranteedThreshold, sources: list[str]) -> Path:
    folder = calibrations_dir(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{check_name(name)}.json"
    # Microseconds: 'latest' is the newest by this stamp, and two calibrations can come in one millisecond.
    created_at = datetime.now(UTC).isoformat(timespec="microseconds")
    payload = {"name": name, "created_at": created_at, "result": asdict(result), "sources": sources}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    tmp.replace(path)
    return path


def _read(path: Path) -> SavedCalibration:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        return SavedCalibration(payload["name"], payload["created_at"], payload["result"], payload["sources"])
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{path}: not a readable calibration ({exc})") from exc


def saved_calibrations(workspace: Path) -> list[SavedCalibration]:
    """Oldest first."""
    folder = calibrations_dir(workspace)
    found = [_read(p) for p in folder.glob("*.json")] if folder.is_dir() else []
    return sorted(found, key=lambda c: (c.created_at, c.name))


def load_calibration(workspace: Path, name: str) -> SavedCalibration:
    """A calibration by name, or the latest one for 'latest'."""
    if name == LATEST_CALIBRATION:
        known = saved_calibrations(workspace)
        if not known:
            raise ConfigError(
                f"--threshold calibrated: workspace {workspace} holds no calibration yet; run `claimcourt calibrate`"
            )
        return known[-1]
    path = calibrations_dir(workspace) / f"{check_name(name)}.json"
    if not path.exists():
        names = ", ".join(c.name for c in saved_calibrations(workspace)) or "none"
        raise ConfigError(f"--threshold calibrated:{name}: no such calibration (saved: {names})")
    return _read(path)


def resolve_threshold(settings: Settings) -> Settings:
    """Settings whose threshold is a number: a calibration reference is looked up and replaced by the
    calibration's threshold, and `calibration` then names the calibration that gave it."""
    if settings.calibration is None:
        return settings
    saved = load_calibration(settings.workspace, settings.calibration)
    if saved.threshold is None:
        raise ConfigError(
            f"calibration '{saved.name}' found no threshold with a guarantee (every claim must go to a person); "
            "audit more claims and calibrate again, or give --threshold as a number"
        )
    return settings.model_copy(update={"threshold": saved.threshold, "calibration": saved.name})
