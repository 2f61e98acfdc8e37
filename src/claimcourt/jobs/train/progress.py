"""What a training run reports while it runs, and how it is stopped with a resumable checkpoint.

The library never prints: it calls a `TrainProgress` (the CLI draws it with rich; a test records it).
A stop is asked for by Ctrl-C (the first one; a second one interrupts at once) or by a step limit, and
is honoured at the end of the optimiser step under way, where the trainer writes a checkpoint the
next run resumes from.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol


@dataclass(frozen=True)
class StepReport:
    step: int
    total: int
    loss: float | None  # the mean training loss over the last logging interval
    tokens_per_s: float
    elapsed_s: float


class TrainProgress(Protocol):
    def phase(self, text: str) -> None: ...

    def started(self, step: int, total: int) -> None: ...

    def stepped(self, report: StepReport) -> None: ...


class NoProgress:
    def phase(self, text: str) -> None:
        pass

    def started(self, step: int, total: int) -> None:
        pass

    def stepped(self, report: StepReport) -> None:
        pass


class Stopper:
    """A stop asked for from outside the training loop: Ctrl-C, or `after_steps` optimiser steps."""

    def __init__(self, after_steps: int | None = None) -> None:
        self.after_steps = after_steps
        self._asked = threading.Event()
        self.reason: str | None = None
        self.interrupted = False  # by Ctrl-C (a step limit is a planned stop)

    def ask(self, reason: str) -> None:
        self.reason = self.reason or reason
        self._asked.set()

    def due(self, step: int) -> bool:
        if self.after_steps is not None and step >= self.after_steps:
            self.ask(f"stopped after step {self.after_steps} as asked")
        return self._asked.is_set()

    @contextmanager
    def on_ctrl_c(self) -> Iterator[None]:
        """While training: the first Ctrl-C asks for a stop; the handler then steps aside, so a second
        Ctrl-C raises KeyboardInterrupt at once. Only in the main thread (signals go nowhere else)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)

        def handler(signum: int, frame: FrameType | None) -> None:
            self.interrupted = True
            self.ask("stopped by Ctrl-C")
            signal.signal(signal.SIGINT, previous)

        signal.signal(signal.SIGINT, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)


def trainer_callback(progress: TrainProgress, stopper: Stopper, tokens: Callable[[], int]) -> Any:
    """A transformers TrainerCallback that reports each step and turns a stop into save-then-stop.
    `tokens`: the prompt tokens handed to the model so far (the collator counts them)."""
    from transformers import TrainerCallback

    class Callback(TrainerCallback):
        def __init__(self) -> None:
            self.started_at = time.monotonic()
            self.tokens_at_start = 0
            self.loss: float | None = None

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started_at = time.monotonic()
            self.tokens_at_start = tokens()
            progress.started(state.global_step, state.max_steps)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                self.loss = float(logs["loss"])

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            elapsed = time.monotonic() - self.started_at
            rate = (tokens() - self.tokens_at_start) / elapsed if elapsed > 0 else 0.0
            progress.stepped(StepReport(state.global_step, state.max_steps, self.loss, rate, elapsed))
            if state.global_step < state.max_steps and stopper.due(state.global_step):
                control.should_save = True
                control.should_training_stop = True

    return Callback()
