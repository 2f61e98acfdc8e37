"""A pass's prefill in slices of rows, each into a static cache of its own, joined afterwards.

Why slices: a prefill's transient activations (for the Mistral Judge ~135 KB a prompt token, as much as
its KV cache) cost one slice's worth, not the whole pass's, so a pass under a memory budget holds more
rows (hf.prefill_tokens). A slice computes only the columns where one of its rows has a token: a
shared layout's prefixes are padded on the left to the pass's longest, plain rows on the right to the
longest prompt, and the callers order their rows by length so that a slice's rows are of about one.
With hf.fused_prefill the slices' forwards run hf_fused's kernels (`prefill_ops`).
"""

from __future__ import annotations

import itertools
import logging
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

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
    forward: Callable[[slice, int, int, Any], Any],
    max_tokens: int | None,
    *,
    columns: Callable[[slice], tuple[int, int]] | None = None,
) -> tuple[Any, Any]:
    """Run `forward(rows_slice, start, stop, cache)` (a prefill of those rows' columns [start, stop) into
    an empty static cache that fills from slot `start`, returning their logits) slice by slice; returns
    the pass's joined cache and the slices' logits (float32), in row order.

    `columns(rows_slice) -> (start, stop)`: the slice's columns outside which every one of its rows
    holds padding (None: all `width`). The slice's prefill skips the rest: those slots stay empty and
    no query ever reads them, and afterwards its cache counts `width` slots filled, so the decode's
    first token goes to slot `width` in every row, as if the whole width had been prefilled. Where the
    cache is of a kind not known here (see _static_layers), every slice computes all columns."""
    import torch
    from transformers import StaticCache

    timing = _PrefillTiming(loaded.device)
    caches, logits = [], []
    with prefill_ops(loaded):
        for part in prefill_slices(rows, width, max_tokens):
            cache = StaticCache(config=loaded.config, max_cache_len=cache_len)
            start, stop = columns(part) if columns is not None else (0, width)
            layers = _static_layers(cache, cache_len)
            if layers is None or not 0 <= start < stop <= width:
                start, stop = 0, width
            elif start:
                _count_filled(layers, start)
            logits.append(forward(part, start, stop, cache).float())
            if layers is not None and stop < width:
                _count_filled(layers, width)
            caches.append(cache)
            timing.add(part.stop - part.start, stop - start)
    joined, out = join_caches(caches), torch.cat(logits)
    timing.done(rows, width, len(caches))
    return joined, out


def _count_filled(layers: list[Any], slots: int) -> None:
    """Make static layers count `slots` filled: the next keys they take go to slot `slots`."""
    import torch

    for layer in layers:
        if layer.is_initialized:  # on the device by now, and read there: in place
            layer.cumulative_length.fill_(slots)
        else:  # moved to the device with the layer's first keys
            layer.cumulative_length = torch.tensor(slots, dtype=torch.long)
        if hasattr(layer, "cumulative_length_int"):  # a sliding-window layer keeps a host count too
            layer.cumulative_length_int = slots


def _static_layers(cache: Any, cache_len: int) -> list[Any] | None:
    """The layers of an empty static cache if each writes at its `cumulative_length` (transformers'
    static layers, plain, and sliding-window ones whose window holds the whole cache), which counts the
    slots filled so far: a prefill or decode step writes from there on. None for any other cache."""
    try:
        from transformers.cache_utils import StaticLayer, StaticSlidingWindowLayer
    except ImportError:  # a transformers whose static cache is laid out otherwise
        return None
    layers = list(getattr(cache, "layers", ()))
    known = (StaticLayer, StaticSlidingWindowLayer)
    if not layers or not all(
        type(layer) in known and getattr(layer, "is_initialized", True) is False for layer in layers
    ):
        return None
    if any(layer.max_cache_len != cache_len for layer in layers):
        return None
    return layers


class _PrefillTiming:
    """The prefill's share of a pass for the pass log: its seconds and the columns it computed against
    the padded rectangle (benchmarks read it beside the decode's ms/step). It waits for the device only
    where INFO is logged, and then once before and once after the prefill."""

    def __init__(self, device: Any) -> None:
        import torch

        self.device = device
        self.enabled = log.isEnabledFor(logging.INFO)
        if self.enabled and device.type == "cuda":
            torch.cuda.synchronize(device)
        self.started = time.perf_counter()
        self.columns = 0

    def add(self, rows: int, columns: int) -> None:
        self.columns += rows * columns

    def done(self, rows: int, width: int, slices: int) -> None:
        import torch

        if not self.enabled:
            return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        log.info(
            "prefilled %d rows %d wide in %d slices: %d columns (%.0f%% of the padded rows) in %.2fs",
            rows,
            width,
            slices,
            self.columns,
            100 * self.columns / max(rows * width, 1),
            time.perf_counter() - self.started,
        )


_no_triton_warned: list[bool] = []


@contextmanager
def prefill_ops(loaded: Any) -> Iterator[None]:
    """With hf.fused_prefill, the block's forwards run hf_fused's kernels for the ops they cover; eager
    ops otherwise: where triton is missing (one warning on a GPU; on a CPU there is nothing to fuse)."""
    if not loaded.fused_prefill:
        yield
        return
    try:
        from claimcourt.models import hf_fused
    except ImportError:  # no triton: a CPU build of torch
        if not _no_triton_warned and loaded.device.type == "cuda":
            _no_triton_warned.append(True)
            log.warning("hf.fused_prefill needs triton, which is not installed; the prefill runs eager ops")
        yield
        return
    hf_fused.install(loaded.model)
    with hf_fused.active():
        yield
