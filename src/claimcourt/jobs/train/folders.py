"""Where a training run writes: the output folder (refused if it exists, unless --overwrite) and,
beside it, `<name>.training/`: the run's checkpoints and `job.json`, the recipe and data they belong
to. A rerun with the same job resumes from the last checkpoint; a different job there is refused.
Every check runs before anything is written."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from claimcourt.errors import InputError

JOB_FILE = "job.json"
# Files that mark a folder as one `claimcourt train` may replace with --overwrite.
OUTPUT_MARKERS = ("adapter_config.json", "claimcourt-card.json", "modules.json")


@dataclass(frozen=True)
class RunFolders:
    out: Path
    work: Path
    resume_from: Path | None  # the last checkpoint of a stopped run of the same job (not with --overwrite)

    def start(self, job: dict[str, Any], *, overwrite: bool) -> None:
        """Clear what --overwrite replaces and record the job; called once every check has passed."""
        if overwrite:
            if self.out.exists():
                shutil.rmtree(self.out)
            if self.work.exists():
                shutil.rmtree(self.work)
        self.work.mkdir(parents=True, exist_ok=True)
        (self.work / JOB_FILE).write_text(json.dumps(job, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    def finish(self) -> None:
        """The output is complete: the checkpoints are no longer needed."""
        shutil.rmtree(self.work, ignore_errors=True)


def last_checkpoint(work: Path) -> Path | None:
    steps = []
    for child in work.glob("checkpoint-*"):
        suffix = child.name.removeprefix("checkpoint-")
        if child.is_dir() and suffix.isdigit() and (child / "trainer_state.json").is_file():
            steps.append((int(suffix), child))
    return max(steps)[1] if steps else None


def plan_folders(out: Path, job: dict[str, Any], *, overwrite: bool) -> RunFolders:
    out = out.expanduser()
    work = out.with_name(out.name + ".training")
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", file=out)
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise InputError("the output folder exists; choose another or pass --overwrite to replace it", file=out)
        if not any((out / marker).exists() for marker in OUTPUT_MARKERS):
            raise InputError("is not a folder claimcourt train wrote; --overwrite replaces only those", file=out)
    resume_from = None
    if (work / JOB_FILE).is_file() and not overwrite:  # --overwrite starts afresh
        recorded = json.loads((work / JOB_FILE).read_text(encoding="utf-8"))
        if recorded == json.loads(json.dumps(job, sort_keys=True)):
            resume_from = last_checkpoint(work)
        else:
            changed = sorted(k for k in set(recorded) | set(job) if recorded.get(k) != job.get(k))
            raise InputError(
                f"holds a stopped run of another job (different {', '.join(changed)}); rerun it as it was to "
                "resume, or pass --overwrite to start afresh",
                file=work,
            )
    if out.parent != Path("") and out.parent.exists() and not out.parent.is_dir():
        raise InputError("is not a folder", file=out.parent)
    return RunFolders(out, work, resume_from)
