"""A pass's prefill in slices of rows, each into a static cache of its own, joined afterwards.

Why slices: a prefill's transient activations (for the Mistral Judge ~135 KB a prompt token, as much as
its KV cache) cost one slice's worth, not the whole pass's, so a pass under a memory budget holds more
rows (DecodePlan.prefill_tokens). A slice whose rows all start with padding (a shared layout's
prefixes, padded on the left to the pass's longest) skips those columns, and its cache fills from the
first real slot. With DecodePlan.fused_prefill the slices' forwards run the fused Triton ops
(`prefill_ops`).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from claimcourt.models.hf.cuda import synced_clock

if TYPE_CHECKING:
    from claimcourt.models.hf.decode.plan import DecodePlan

log = logging.getLogger(__name__)


def prefill_slices(rows: int, width: int, max_tokens: int | None) -> list[slice]:
    """Row slices of a pass's prefill, of about equal size, each at most `max_tokens` prompt columns
    (at least one row); None or 0: one slice."""
    if not max_tokens:
        return [slice(0, rows)]
    per_slice = max(1, max_tokens // max(width, 1))
    count = math.ceil(rows / per_slice)
    bounds = [rows * k // count for k in range(count + 1)]
    return [slice(start, stop) for start, stop in itertools.pairwise(bounds)]


def join_caches(caches: list[Any]) -> Any:
    """One cache holding every slice's rows, in order: each layer's keys and values concatenated on the
    batch axis, a layer at a time, the slices' own tensors freed as they go (so the join costs one
    layer's cache beside the pass's). Every slice's cache has the same length and the same filled slots."""
    import torch

    joined = caches[0]
    if len(caches) == 1:
        return joined
    for index, layer in enumerate(joined.layers):
        parts = [cache.layers[index] for cache in caches]
        layer.keys = torch.cat([part.keys for part in parts])
        layer.values = torch.cat([part.values for part in parts])
        layer.batch_size = layer.keys.shape[0]
        for part in parts[1:]:
            part.keys = part.values = None
    return joined


def prefill_in_slices(
    loaded: Any,
    rows: int,
    width: int,
    cache_len: int,
    forward: Callable[[slice, int, Any], Any],
    plan: DecodePlan,
    *,
    padded_columns: Callable[[slice], int] | None = None,
) -> tuple[Any, Any]:
    """Run `forward(rows_slice, start, cache)` (a prefill of those rows' columns from `start` on into an
    empty static cache that fills from slot `start`, returning their logits) slice by slice, each of at
    most `plan.prefill_tokens` prompt columns; returns the pass's joined cache and the slices' logits
    (float32), in row order.

    `padded_columns(rows_slice)`: how many leading columns are padding in every row of the slice (a
    shared layout's prefixes are padded on the left to the pass's longest). The slice's prefill skips
    them: their slots stay empty, and no query ever reads them. Where the cache cannot fill from a slot
    other than 0 (a cache layer of a kind not known here), every slice starts at 0."""
    import torch
    from transformers import StaticCache

    timing = _PrefillTiming(loaded.device)
    caches, logits = [], []
    with prefill_ops(loaded, plan.fused_prefill):
        for part in prefill_slices(rows, width, plan.prefill_tokens):
            cache = StaticCache(config=loaded.config, max_cache_len=cache_len)
            start = padded_columns(part) if padded_columns is not None else 0
            if start and not _fill_from(cache, start, cache_len):
                start = 0
            logits.append(forward(part, start, cache).float())
            caches.append(cache)
            timing.add(part.stop - part.start, width - start)
    joined, out = join_caches(caches), torch.cat(logits)
    timing.done(rows, width, len(caches))
    return joined, out


class _PrefillTiming:
    """The prefill's share of a pass, for the pass log: its seconds, and the columns it computed against
    the padded rows (benchmarks read it beside the decode's ms/step). It waits for the device only where
    INFO is logged, once before the prefill and once after (where the decode would wait anyway)."""

    def __init__(self, device: Any) -> None:
        self.device = device
        self.started = synced_clock(device, log)
        self.columns = 0

    def add(self, rows: int, columns: int) -> None:
        self.columns += rows * columns

    def done(self, rows: int, width: int, slices: int) -> None:
        ended = synced_clock(self.device, log)
        if self.started is None or ended is None:
            return
        log.info(
            "prefilled %d rows %d wide in %d slices: %d columns (%.0f%% of the padded rows) in %.2fs",
            rows,
            width,
            slices,
            self.columns,
            100 * self.columns / max(rows * width, 1),
            ended - self.started,
        )


def _fill_from(cache: Any, start: int, cache_len: int) -> bool:
    """Make an empty static cache write its first keys at slot `start`: transformers' static layers
    (plain, and sliding-window ones whose window holds the whole cache) write at their
    `cumulative_length`, which counts the slots filled so far; a later prefill or decode step goes on
    from there. False, and nothing changed, for any other layer."""
    import torch

    try:
        from transformers.cache_utils import StaticLayer, StaticSlidingWindowLayer
    except ImportError:  # a transformers whose static cache is laid out otherwise
        return False
    layers = list(getattr(cache, "layers", ()))
    known = (StaticLayer, StaticSlidingWindowLayer)
    if not layers or not all(
        type(layer) in known and getattr(layer, "is_initialized", True) is False for layer in layers
    ):
        return False
    if any(layer.max_cache_len != cache_len for layer in layers) or start >= cache_len:
        return False
    for layer in layers:
        layer.cumulative_length = torch.tensor(start, dtype=torch.long)
        if isinstance(layer, StaticSlidingWindowLayer):
            layer.cumulative_length_int = start
    return True


@contextmanager
def prefill_ops(loaded: Any, fused: bool) -> Iterator[None]:
    """With `fused` (hf.fused_prefill), the block's forwards run the fused Triton ops they cover, each
    recorded in the model's runtime; eager ops otherwise: where triton is missing (one warning on a
    GPU; on a CPU there is nothing to fuse)."""
    if not fused:
        yield
        return
    runtime = loaded.runtime
    try:
        from claimcourt.models.hf.kernels import triton_fused_prefill
    except ImportError:  # no triton: a CPU build of torch
        if not runtime.fused_unavailable and loaded.device.type == "cuda":
            runtime.fused_unavailable = True
            log.warning("hf.fused_prefill needs triton, which is not installed; the prefill runs eager ops")
        yield
        return
    triton_fused_prefill.install(loaded.model)
    with triton_fused_prefill.active(runtime):
        yield
