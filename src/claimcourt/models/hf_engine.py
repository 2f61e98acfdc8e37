"""Batched forward passes for the hf profile: generation, and the Judge's label scoring.

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
from typing import Any, TypeVar

from claimcourt.models import hf_decode
from claimcourt.models.hf_loading import LoadedModel

log = logging.getLogger(__name__)

T = TypeVar("T")

_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
# Kept free beside the estimate: CUDA context, allocator fragmentation, dequantisation buffers.
_RESERVE_FRACTION = 0.03
_RESERVE_MIN = 1024**3
# At most this many configured slices in one (MemoryPlanner.prefill_tokens_for): 65536 tokens by
# default, the largest slice measured.
_SLICE_GROWTH = 4


def is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


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
    shared_rows: int = 0  # rows decoded in groups over one copy of their shared prefix (hf_shared_prefix)
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
        """Rows of `prompt_len` prompt columns that fit; a row of several lanes (hf_shared_prefix) holds
        one cache slot per lane and new token, and each lane's logits. With `prefill_tokens` (hf_decode's
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
        """The prefill slice for a pass of `rows` rows (hf_decode's sliced prefill): `configured` prompt
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
            _memory_note(),
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


def _memory_note() -> str:
    """The allocator's state after a pass, for the log: where a budget's headroom went."""
    import torch

    if not torch.cuda.is_available():
        return ""
    gib = 1024**3
    return (
        f" (allocated {torch.cuda.memory_allocated() / gib:.2f} GiB, reserved {torch.cuda.memory_reserved() / gib:.2f},"
        f" peak {torch.cuda.max_memory_allocated() / gib:.2f})"
    )


def empty_cuda_cache() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _pad_left(rows: list[list[int]], pad_id: int, device: Any) -> tuple[Any, Any]:
    import torch

    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row) :] = torch.tensor(row, dtype=torch.long)
        mask[i, width - len(row) :] = 1
    return ids.to(device), mask.to(device)


def _generation_kwargs(loaded: LoadedModel, max_new_tokens: int, cache_implementation: str) -> dict[str, Any]:
    from transformers import GenerationConfig

    tokenizer = loaded.tokenizer
    eos = loaded.model.generation_config.eos_token_id
    if eos is None:
        eos = tokenizer.eos_token_id
    # An explicit config: greedy, no sampling knobs inherited from a model's generation_config, so
    # outputs are reproducible and the first step's scores are the model's raw logits.
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=False,
        eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        # Batch shapes change from call to call: compiling each would cost more than it saves.
        disable_compile=True,
    )
    if cache_implementation == "static":
        config.cache_implementation = "static"
    return {"generation_config": config}


def stop_token_ids(loaded: LoadedModel) -> list[int]:
    """Where a row's text ends: the model's EOS token(s), and the pad token `generate` fills in after."""
    eos = loaded.model.generation_config.eos_token_id
    if eos is None:
        eos = loaded.tokenizer.eos_token_id
    return sorted(set(eos if isinstance(eos, list) else [eos]) | {loaded.tokenizer.pad_token_id})


def uses_graphed_decode(loaded: LoadedModel, decode: str, cache_implementation: str, total_len: int) -> bool:
    """Whether hf_decode's loop runs this pass: its masks are boolean 4D masks, which sdpa reads as
    they are (eager attention would add them as numbers)."""
    return (
        decode == "graphed"
        and cache_implementation == "static"
        and loaded.config._attn_implementation == "sdpa"
        and hf_decode.static_cache_fits(loaded.config, total_len)
    )


def generate_texts(
    model: Any,
    loaded: LoadedModel,
    rows: list[list[int]],
    *,
    max_new_tokens: int,
    cache_implementation: str = "dynamic",
    logits_processor: Any = None,
    decode: str = "generate",
    prefill_tokens: int | None = None,
) -> list[list[int]]:
    """Greedy generation for a chunk of left-padded rows: the new token ids of each row, up to EOS.
    decode='graphed' (static cache only) runs hf_decode's loop instead of transformers' generate, its
    prefill in slices of `prefill_tokens` prompt tokens."""
    import torch

    width = max(len(r) for r in rows)
    if uses_graphed_decode(loaded, decode, cache_implementation, width + max_new_tokens):
        return hf_decode.decode_greedy(
            model,
            loaded,
            rows,
            max_new_tokens=max_new_tokens,
            stop_ids=stop_token_ids(loaded),
            prefill_tokens=prefill_tokens,
        )
    ids, mask = _pad_left(rows, loaded.tokenizer.pad_token_id, loaded.device)
    kwargs = _generation_kwargs(loaded, max_new_tokens, cache_implementation)
    if logits_processor is not None:
        kwargs["logits_processor"] = logits_processor
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=mask, **kwargs)
    new = out[:, ids.shape[1] :].tolist()
    stops = set(stop_token_ids(loaded))
    trimmed = []
    for row in new:
        cut = next((k for k, tok in enumerate(row) if tok in stops), len(row))
        trimmed.append(row[:cut])
    return trimmed


def label_logits(
    model: Any, loaded: LoadedModel, rows: list[list[int]], label_ids: tuple[int, int]
) -> list[tuple[float, float]]:
    """One forward pass: the (YES, NO) logits at the last position of each row."""
    import torch

    ids, mask = _pad_left(rows, loaded.tokenizer.pad_token_id, loaded.device)
    with torch.inference_mode():
        logits = model(input_ids=ids, attention_mask=mask, logits_to_keep=1).logits[:, -1, :].float()
    pair = logits[:, list(label_ids)].cpu().tolist()
    return [(float(y), float(n)) for y, n in pair]


class JudgeFormatProcessor:
    """A logits processor for the Judge's one-pass verdict and rationale.

    Step 0 (the answer position): records the raw YES and NO logits, then allows only the likelier of
    the two, so the rationale follows the Judge's own answer. Steps 1..k: forces the rationale header.
    Later steps are free. Works on a left-padded batch: every row is at the same step.
    """

    def __init__(self, prompt_width: int, label_ids: tuple[int, int], header_ids: list[int]) -> None:
        self.prompt_width = prompt_width
        self.label_ids = label_ids
        self.header_ids = header_ids
        self.label_scores: Any = None

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        step = input_ids.shape[1] - self.prompt_width
        if step == 0:
            pair = scores[:, list(self.label_ids)].float()
            self.label_scores = pair.detach().clone()
            chosen = torch.tensor(self.label_ids, device=scores.device)[pair.argmax(dim=1)]
            return _force(scores, chosen)
        if step <= len(self.header_ids):
            token = self.header_ids[step - 1]
            return _force(scores, torch.full((scores.shape[0],), token, device=scores.device))
        return scores


def _force(scores: Any, tokens: Any) -> Any:
    import torch

    forced = torch.full_like(scores, -math.inf)
    forced.scatter_(1, tokens.view(-1, 1), 0.0)
    return forced


def p_green_from_logits(yes: float, no: float) -> float:
    """P(YES) / (P(YES) + P(NO)) from the two logits: the softmax over the pair, i.e. sigmoid(yes - no)."""
    diff = yes - no
    if diff >= 0:
        return 1.0 / (1.0 + math.exp(-diff))
    e = math.exp(diff)
    return e / (1.0 + e)


def judge_with_rationale(
    model: Any,
    loaded: LoadedModel,
    rows: list[list[int]],
    *,
    label_ids: tuple[int, int],
    header_ids: list[int],
    rationale_tokens: int,
    cache_implementation: str = "dynamic",
    decode: str = "generate",
    prefill_tokens: int | None = None,
) -> list[tuple[float, float, list[int]]]:
    """One prefill for the verdict and the rationale: (YES logit, NO logit, rationale token ids)."""
    from transformers import LogitsProcessorList

    width = max(len(r) for r in rows)
    new_tokens = 1 + len(header_ids) + rationale_tokens
    if uses_graphed_decode(loaded, decode, cache_implementation, width + new_tokens):
        return _judge_graphed(model, loaded, rows, label_ids, header_ids, new_tokens, prefill_tokens)
    processor = JudgeFormatProcessor(width, label_ids, header_ids)
    generated = generate_texts(
        model,
        loaded,
        rows,
        max_new_tokens=new_tokens,
        cache_implementation=cache_implementation,
        logits_processor=LogitsProcessorList([processor]),
    )
    pair = processor.label_scores.cpu().tolist()
    skip = 1 + len(header_ids)
    return [(float(y), float(n), toks[skip:]) for (y, n), toks in zip(pair, generated, strict=True)]


def _judge_graphed(
    model: Any,
    loaded: LoadedModel,
    rows: list[list[int]],
    label_ids: tuple[int, int],
    header_ids: list[int],
    new_tokens: int,
    prefill_tokens: int | None,
) -> list[tuple[float, float, list[int]]]:
    """judge_with_rationale through hf_decode: the same three phases as JudgeFormatProcessor (record
    the pair at the answer position and keep the likelier, force the header, then greedy)."""
    import torch

    recorded: dict[str, Any] = {}

    def choose_first(logits: Any) -> Any:
        pair = logits[:, list(label_ids)].float()
        recorded["pair"] = pair
        return torch.tensor(label_ids, device=logits.device)[pair.argmax(dim=1)]

    generated = hf_decode.decode_greedy(
        model,
        loaded,
        rows,
        max_new_tokens=new_tokens,
        stop_ids=stop_token_ids(loaded),
        choose_first=choose_first,
        forced=header_ids,
        prefill_tokens=prefill_tokens,
    )
    pair = recorded["pair"].cpu().tolist()
    skip = 1 + len(header_ids)
    return [(float(y), float(n), toks[skip:]) for (y, n), toks in zip(pair, generated, strict=True)]
