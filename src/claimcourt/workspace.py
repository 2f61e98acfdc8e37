"""Where a workspace keeps things.

- `chroma/`: the labelled claims' vector store (unless retrieval points at a Chroma server).
- `checkpoints.sqlite` and `runs.sqlite`: the run state when storage_url is unset; `claimcourt.store`
  owns both (nobody else opens them).
- `runs/<run id>/`: each run's default results files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from claimcourt.run_ids import run_folder_name


@dataclass(frozen=True)
class WorkspacePaths:
    root: Path

    @property
    def chroma(self) -> Path:
        return self.root / "chroma"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints.sqlite"

    @property
    def ledger(self) -> Path:
        return self.root / "runs.sqlite"

    def offline_judge(self, collection: str) -> Path:
        return self.root / f"{collection}.offline-judge.json"

    def run_dir(self, run_id: str) -> Path:
        """One folder per run id, inside runs/ (see `claimcourt.run_ids` for the mapping)."""
        return self.root / "runs" / run_folder_name(run_id)
