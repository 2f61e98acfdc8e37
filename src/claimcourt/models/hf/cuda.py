"""The CUDA device as the hf backend's passes meet it: out-of-memory errors, the allocator's cache and
state, the clock of work queued on the device. Nothing here imports torch at import time."""

from __future__ import annotations

import logging
import time
from typing import Any


def is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def empty_cuda_cache() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def memory_note() -> str:
    """The allocator's state after a pass, for the log: where a budget's headroom went."""
    import torch

    if not torch.cuda.is_available():
        return ""
    gib = 1024**3
    return (
        f" (allocated {torch.cuda.memory_allocated() / gib:.2f} GiB, reserved {torch.cuda.memory_reserved() / gib:.2f},"
        f" peak {torch.cuda.max_memory_allocated() / gib:.2f})"
    )


def synced_clock(device: Any, logger: logging.Logger) -> float | None:
    """For a pass's timings in the log: where `logger` logs INFO, the clock once the device has done
    the work queued on it; None otherwise, and no wait."""
    import torch

    if not logger.isEnabledFor(logging.INFO):
        return None
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()
