"""Where a workspace keeps things: the one owner of its layout (nobody else spells these names).

- `chroma/`: the labelled claims' vector store (unless retrieval points at a Chroma server).
- `checkpoints.sqlite` and `runs.sqlite`: the run state when storage_url is unset; `claimcourt.store`
  opens both (nobody else does).
- `runs/<run id>/`: each run's default results files.
- `<collection>.offline-judge.json`: the offline Judge fitted on that collection.
- `web/`: the review page's session secret, plots and exports being downloaded.
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

    @property
    def web(self) -> Path:
        return self.root / "web"

    def run_dir(self, run_id: str) -> Path:
        """One folder per run id, inside runs/ (see `claimcourt.run_ids` for the mapping)."""
        return self.root / "runs" / run_folder_name(run_id)
