"""How `claimcourt train` shows a run: the progress bar (step of total, loss, tokens/s, time left), a
stopped run's way on, and the held-out evaluation side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.progress import Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from claimcourt.cli.common import console, err_console, progress_bar
from claimcourt.display import as_text

JUDGE_SIDES = {"adapter": "adapter on", "base": "base (adapter off)"}
ENCODER_SIDES = {"fine_tuned": "fine-tuned encoder", "frozen": "frozen encoder"}


class RichProgress:
    """Draws a training run's progress: step of total, loss, tokens/s, time left."""

    def __init__(self) -> None:
        self.bar: Progress | None = None
        self.task: TaskID | None = None

    def phase(self, text: str) -> None:
        console.print(as_text(f"{text}…"), highlight=False)

    def started(self, step: int, total: int) -> None:
        if step:
            console.print(f"resuming at step {step} of {total}", highlight=False)
        self.bar = progress_bar(
            "training",
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[rate]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
        )
        self.bar.start()
        self.task = self.bar.add_task("training", total=total, completed=step, loss="…", rate="")

    def stepped(self, report: Any) -> None:
        if self.bar is None or self.task is None:
            return
        loss = f"{report.loss:.4f}" if report.loss is not None else "…"
        rate = f"{report.tokens_per_s:,.0f} tok/s" if report.tokens_per_s > 0 else ""
        self.bar.update(self.task, completed=report.step, loss=loss, rate=rate)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def stopped(reason: str | None, step: int, total: int, checkpoint: Path | None, *, interrupted: bool) -> None:
    """A run stopped before its last step: where its checkpoint is, how to go on; exit 130 after Ctrl-C."""
    err_console.print(
        as_text(
            f"{reason or 'stopped'} at step {step} of {total}; the checkpoint is in {checkpoint}: run the same "
            "command again to resume"
        ),
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(130 if interrupted else 0)


def show_evaluation(evaluation: dict[str, dict[str, Any]], order: list[str], *, labels: dict[str, str]) -> None:
    if not evaluation:
        console.print("no held-out claims: nothing evaluated (set --held-out above 0)", highlight=False)
        return
    sides = list(evaluation)
    table = Table(title=f"held-out evaluation ({evaluation[sides[0]]['n']} claims)", header_style="bold")
    table.add_column("")
    for side in sides:
        table.add_column(labels.get(side, side), justify="right")
    for key in order:
        cells = [evaluation[s].get(key) for s in sides]
        table.add_row(
            key, *("n/a" if v is None or v != v else f"{v:.4f}" if isinstance(v, float) else str(v) for v in cells)
        )
    console.print(table)
