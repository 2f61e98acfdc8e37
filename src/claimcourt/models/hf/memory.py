"""Memory-sized passes for the hf profile: how many rows fit, and running a batch in such passes.

A batch arrives as token-id lists (one per claim and role). It is sorted by length, so rows of
similar length share a forward pass and padding stays small, then cut into chunks whose size comes
from a GPU memory budget: the KV cache of a chunk (bytes per token read off the model's config:
layers x KV heads x head dim x 2 x dtype size) plus the activations of its prefill must fit in what the
budget leaves beside the weights. Phi-3-mini has 32 KV heads and no grouped-query attention, so its
cache is ~384 KiB per token and the budget, not the GPU's arithmetic, bounds the batch.

An out-of-memory error halves the chunk and retries the same rows, and the smaller size is kept for
later chunks: no row is dropped. Only a single row that does not fit fails (its claim is recorded as
failed and runs again with the same run id).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from claimcourt.models.hf.cuda import is_oom, memory_note

if TYPE_CHECKING:
    from claimcourt.models.hf.loading import LoadedModel

log = logging.getLogger(__name__)

T = TypeVar("T")

_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
# Kept free beside the estimate: CUDA context, allocator fragmentation, dequantisation buffers.
_RESERVE_FRACTION = 0.03
_RESERVE_MIN = 1024**3
# At most this many configured slices in one (MemoryPlanner.prefill_tokens_for): 65536 tokens by
# default, the largest slice measured.
_SLICE_GROWTH = 4


def kv_bytes_per_token(config: Any, dtype_bytes: int) -> int:
    """Bytes of KV cache one token costs: 2 (K and V) x layers x KV heads x head dim x dtype size."""
    heads = int(config.num_attention_heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
    return 2 * int(config.num_hidden_layers) * kv_heads * head_dim * dtype_bytes


def activation_bytes_per_token(config: Any, dtype_bytes: int) -> int:
    """Peak transient activations per prompt token during one layer of prefill (residual, attention
    projections, the MLP's gate/up/act); layers run one after another, so one layer's worth. Measured
    on an H200 with Phi-3-mini in NF4: ~55 KB per prompt token; this estimate gives ~86 KB."""
    hidden = int(config.hidden_size)
    intermediate = int(getattr(config, "intermediate_size", None) or 4 * hidden)
    return int((6 * hidden + 3 * intermediate) * dtype_bytes)


@dataclass
class BatchStats:
    """What the chunks looked like: sizes (in rows), OOM retries, padded and real prompt columns."""

    chunks: int = 0
    rows: int = 0
    shared_rows: int = 0  # rows decoded in groups over one copy of their shared prefix (decode.shared_prefix)
    sizes: list[int] = field(default_factory=list)
    oom_retries: int = 0
    prompt_tokens: int = 0
    padded_tokens: int = 0
    # (start, end) in `time.perf_counter()` seconds of each pass and of each prompt rendering: where a
    # run's time went, and how much of it the device sat idle (benchmarks/hf_throughput.py).
    pass_spans: list[tuple[float, float]] = field(default_factory=list)
    render_spans: list[tuple[float, float]] = field(default_factory=list)

    @property
    def mean_size(self) -> float:
        return self.rows / self.chunks if self.chunks else 0.0


class MemoryPlanner:
    """How many rows of a given length fit in one forward pass under the memory budget."""

    def __init__(self, *, budget_bytes: int | None, max_batch: int, dtype: str) -> None:
        self.budget_bytes = budget_bytes
        self.max_batch = max_batch
        self.dtype_bytes = _DTYPE_BYTES.get(dtype, 2)
        # Lowered by an out-of-memory error, per model, and kept: the estimate was too optimistic.
        self._oom_cap: dict[str, int] = {}
        self._lock = threading.Lock()

    def cap_after_oom(self, model_id: str, failed_size: int) -> int:
        with self._lock:
            new = max(1, failed_size // 2)
            self._oom_cap[model_id] = min(self._oom_cap.get(model_id, new), new)
            return self._oom_cap[model_id]

    def oom_cap(self, model_id: str) -> int | None:
        return self._oom_cap.get(model_id)

    def _free_bytes(self) -> int | None:
        import torch

        if not torch.cuda.is_available():
            return None
        allocated = torch.cuda.memory_allocated()
        budget = self.budget_bytes
        if budget is None:
            # What the device has free plus what PyTorch's allocator holds in reserve (it keeps freed
            # blocks cached: they are free for the next pass, though the driver counts them as used).
            free, _total = torch.cuda.mem_get_info()
            budget = free + torch.cuda.memory_reserved()
        reserve = max(_RESERVE_MIN, int(budget * _RESERVE_FRACTION))
        return budget - allocated - reserve

    def rows_for(
        self,
        loaded: LoadedModel,
        prompt_len: int,
        new_tokens: int,
        lanes: int = 1,
        *,
        prefill_tokens: int | None = None,
    ) -> int:
        """Rows of `prompt_len` prompt columns that fit; a row of several lanes (decode.shared_prefix) holds
        one cache slot per lane and new token, and each lane's logits. With `prefill_tokens` (decode.loop's
        sliced prefill) the prefill's activations and mask cost one slice of that many prompt tokens,
        whatever the pass's rows; otherwise every row's."""
        cap = min(self.max_batch, self._oom_cap.get(loaded.model_id, self.max_batch))
        free = self._free_bytes()
        if free is None:
            return cap
        per_token = self._prefill_bytes_per_token(loaded.config, prompt_len)
        per_row = self._row_bytes(loaded.config, prompt_len, new_tokens, lanes)
        if prefill_tokens:
            free -= per_token * max(prefill_tokens, prompt_len)
        else:
            per_row += per_token * prompt_len
        return max(1, min(cap, free // max(per_row, 1)))

    def prefill_tokens_for(
        self, loaded: LoadedModel, rows: int, prompt_len: int, new_tokens: int, lanes: int = 1, *, configured: int
    ) -> int:
        """The prefill slice for a pass of `rows` rows (decode.loop's sliced prefill): `configured` prompt
        tokens, grown into half the memory that the rows' caches and one configured slice leave free, by
        whole slices, to at most `_SLICE_GROWTH` times it. Fewer, larger slices prefill faster (an H100,
        unbounded: 65536 tokens gave 10.1-10.3 claims/s against 9.6-9.8 for 16384), and growing only
        into what the rows leave never costs a pass rows. Half, because the debaters' and the Judge's
        passes run at once and each plans from the same free memory. Never after an out-of-memory error
        for the model: the estimate was too optimistic there."""
        if not configured or loaded.model_id in self._oom_cap:
            return configured
        free = self._free_bytes()
        if free is None:
            return configured
        per_token = self._prefill_bytes_per_token(loaded.config, prompt_len)
        left = free - rows * self._row_bytes(loaded.config, prompt_len, new_tokens, lanes)
        left -= per_token * max(configured, prompt_len)
        extra_slices = max(0, left // 2 // max(per_token * configured, 1))
        return configured * int(min(_SLICE_GROWTH, 1 + extra_slices))

    def _prefill_bytes_per_token(self, config: Any, prompt_len: int) -> int:
        """A prefill's transient activations per prompt token, and its 4D boolean mask with the
        temporaries that build it."""
        return activation_bytes_per_token(config, self.dtype_bytes) + 4 * prompt_len

    def _row_bytes(self, config: Any, prompt_len: int, new_tokens: int, lanes: int) -> int:
        """A row's KV cache, and its last position's logits in float32 with the sampling buffers beside
        them, one per lane."""
        cache = kv_bytes_per_token(config, self.dtype_bytes) * (prompt_len + lanes * new_tokens)
        return cache + lanes * 3 * int(config.vocab_size) * 4


def run_in_chunks(
    items: Sequence[T],
    *,
    lengths: Sequence[int],
    rows_for: Callable[[int], int],
    on_oom: Callable[[int], int],
    run_chunk: Callable[[list[T]], list[Any]],
    stats: BatchStats | None = None,
    empty_cache: Callable[[], None] | None = None,
    lanes: int = 1,
) -> list[Any]:
    """`run_chunk` over length-sorted chunks sized by `rows_for(longest)`; on OOM, halve and retry.

    Results come back in the order of `items`. `rows_for` gets the longest length of the next chunk;
    `on_oom(failed_size)` returns the new cap, which every later chunk also respects. An item of
    several `lanes` (a group of rows over one shared prefix) counts as that many rows in `stats`.
    """
    order = sorted(range(len(items)), key=lambda i: lengths[i], reverse=True)
    results: list[Any] = [None] * len(items)
    position = 0
    cap: int | None = None
    while position < len(order):
        size = rows_for(lengths[order[position]])
        if cap is not None:
            size = min(size, cap)
        # Equal passes rather than full ones and a straggler: a decode step costs about the same for
        # 100 rows as for 250, so the number of passes is what counts.
        remaining = len(order) - position
        size = math.ceil(remaining / math.ceil(remaining / max(size, 1)))
        chunk_ids = order[position : position + size]
        started = time.perf_counter()
        try:
            outputs = run_chunk([items[i] for i in chunk_ids])
        except Exception as exc:
            if not is_oom(exc) or len(chunk_ids) == 1:
                raise
            cap = on_oom(len(chunk_ids))
            if stats is not None:
                stats.oom_retries += 1
            log.warning("out of memory with %d rows; retrying with %d", len(chunk_ids), cap)
            del exc
            if empty_cache is not None:
                empty_cache()
            continue
        if len(outputs) != len(chunk_ids):
            raise RuntimeError(f"a chunk of {len(chunk_ids)} rows returned {len(outputs)} results")
        for i, out in zip(chunk_ids, outputs, strict=True):
            results[i] = out
        ended = time.perf_counter()
        log.info(
            "pass of %d rows%s (longest prompt %d tokens) in %.2fs%s",
            len(chunk_ids) * lanes,
            f" in {len(chunk_ids)} shared-prefix groups" if lanes > 1 else "",
            lengths[chunk_ids[0]],
            ended - started,
            memory_note(),
        )
        if stats is not None:
            stats.pass_spans.append((started, ended))
            stats.chunks += 1
            stats.rows += len(chunk_ids) * lanes
            stats.shared_rows += len(chunk_ids) * lanes if lanes > 1 else 0
            stats.sizes.append(len(chunk_ids) * lanes)
            longest = lengths[chunk_ids[0]]
            stats.prompt_tokens += sum(lengths[i] for i in chunk_ids)
            stats.padded_tokens += longest * len(chunk_ids)
        position += len(chunk_ids)
    return results
