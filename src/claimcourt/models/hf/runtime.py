"""What one loaded model's decode path learns while it runs, and which path each pass took.

A CUDA graph that failed to capture, a decode attention kernel or a fused prefill op that cannot run
on this GPU: each is learnt once, by the model that met it, and that model keeps to the path that works
from then on (one warning). The model's captures share one stream and one graph memory pool (see
`decode.loop.capture_step`). `ran` counts the paths taken, so a test or a benchmark asks the record
which path ran instead of reading module internals. Nothing here imports torch.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

# The paths `ModelRuntime.ran` counts. A decode path counts once per pass; an attention or prefill path
# counts once per call from Python (a captured decode step calls it once, at its capture).
RuntimePath = Literal[
    "decode: graphed",  # decode.loop, its step captured as a CUDA graph and replayed
    "decode: eager",  # decode.loop, its step run eagerly (no CUDA, too few steps, a failed capture)
    "decode: generate",  # transformers' generate
    "attention: kernel",  # a decode step's attention through kernels/triton_decode_attention
    "attention: sdpa",  # a decode step's attention through SDPA
    "prefill: fused",  # a prefill op through kernels/triton_fused_prefill
]
DECODE_GRAPHED: RuntimePath = "decode: graphed"
DECODE_EAGER: RuntimePath = "decode: eager"
DECODE_GENERATE: RuntimePath = "decode: generate"
ATTENTION_KERNEL: RuntimePath = "attention: kernel"
ATTENTION_SDPA: RuntimePath = "attention: sdpa"
PREFILL_FUSED: RuntimePath = "prefill: fused"


@dataclass
class ModelRuntime:
    """One model's decode state and record (`LoadedModel.runtime`)."""

    # A decode step failed to capture once: this model's steps run eagerly from then on.
    graphs_broken: bool = False
    # Why the decode attention kernel failed here (its steps attend through SDPA from then on), or None.
    kernel_failure: str | None = None
    # Why a fused prefill op failed here (its prefills run eager ops from then on), or None.
    fused_failure: str | None = None
    # The fused prefill was asked for where triton is missing (warned once).
    fused_unavailable: bool = False
    ran: Counter[RuntimePath] = field(default_factory=Counter)
    # The captures' stream and graph memory pool, and the last graph, which keeps the pool alive
    # between passes (decode.loop.capture_step). A pass holds the model's lock, so one of each serves
    # every pass of the model.
    capture_stream: Any = None
    graph_pool: Any = None
    last_graph: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, path: RuntimePath) -> None:
        with self._lock:
            self.ran[path] += 1
