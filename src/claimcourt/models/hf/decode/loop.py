"""Greedy decoding over a static KV cache, the decode step captured as one CUDA graph per pass.

Why: under a memory budget a pass holds few rows, so a decode step costs what launching it costs:
transformers' `generate` spends ~45-58 ms of Python and kernel launches per step (32 layers, the
bitsandbytes dequantisation of every projection, the mask rebuilt every step) while the GPU needs a
few ms for the bytes. Here the step's inputs live in fixed buffers (token, position, mask, the
static cache), so the whole step (every layer, the 4-bit kernels, the argmax) is captured once per
pass and replayed for each token.

What the model computes is unchanged: every real token attends to the same real tokens at the same
positions as in `generate`, and tokens are the argmax of the same logits. The prefill runs the rows
padded on the right, where causal attention alone is the right mask (flash-style kernels, no dense
mask); each decode step feeds the rows' last tokens at their own next positions, with a mask of the
row's real prompt tokens and everything generated so far. The prefill can run in slices of rows
(decode.prefill), so under a memory budget a pass holds more rows. Rows leave at their first stop token
exactly as `generate_texts` cuts them. Where a graph cannot be captured (no CUDA, a capture error), the
same step runs eagerly; the model's runtime record says which ran (`ModelRuntime.ran`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from claimcourt.models.hf.cuda import synced_clock
from claimcourt.models.hf.decode.attention import (
    CAUSAL_PREFILL,
    GROUPED_DECODE,
    KERNEL_DECODE,
    attention_as,
    decode_step,
)
from claimcourt.models.hf.decode.plan import DEFAULT_PLAN, DecodePlan
from claimcourt.models.hf.decode.prefill import prefill_in_slices
from claimcourt.models.hf.runtime import ATTENTION_SDPA, DECODE_EAGER, DECODE_GRAPHED, ModelRuntime

log = logging.getLogger(__name__)

# Steps between checks that every row has stopped (each check waits for the GPU).
_DONE_CHECK_EVERY = 16
# A graph pays for its capture only over a few replays.
_MIN_GRAPH_STEPS = 4


@contextmanager
def _head_reads(model: Any, positions: Any) -> Iterator[None]:
    """The output head reads one position per row (positions [B]): each right-padded row's last real
    token, whose logits give its first new token. A hook on the head's input, because transformers'
    per-row `logits_to_keep` (a 2D tensor) exists only in its recent releases."""
    head = model.get_output_embeddings()

    def gather(module: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
        hidden = args[0]
        index = positions.view(-1, 1, 1).expand(-1, 1, hidden.shape[-1])
        return (hidden.gather(1, index), *args[1:])

    handle = head.register_forward_pre_hook(gather)
    try:
        yield
    finally:
        handle.remove()


def _capture_stream(runtime: ModelRuntime) -> Any:
    import torch

    if runtime.capture_stream is None:
        runtime.capture_stream = torch.cuda.Stream()
    return runtime.capture_stream


class _DecodeStep:
    """One decode step over fixed buffers: reads the previous tokens, writes the next ones in place.

    A cache row holds `lanes` sequences that share its prompt slots (one lane: an ordinary row; two:
    the Advocate and the Skeptic over one copy of their common prefix, see decode.shared_prefix). Each step
    feeds one token per lane; the cache appends them in lane order, so lane j's token of step k sits
    in slot width + k * lanes + j, and only that lane's mask row sees it.
    """

    def __init__(
        self,
        model: Any,
        config: Any,
        cache: Any,
        visible: Any,
        position: Any,
        first: Any,
        cache_len: int,
        attention: str,
        runtime: ModelRuntime,
    ) -> None:
        """visible [B, lanes, width] (bool): the prompt slots each lane reads; position [B, lanes]: the
        position of each lane's first fed token; first [B, lanes]: that token; attention: 'kernel'
        (the Triton decode kernel) or 'sdpa' (DecodePlan.attention); runtime: the model's record."""
        import torch

        batch, lanes, width = visible.shape
        self.model = model
        self.config = config
        self.runtime = runtime
        # The decode step alone runs one of these; the prefill has its own. SDPA as configured for a
        # model without grouped KV heads; grouped_decode_attention for one with them.
        heads = int(config.num_attention_heads)
        grouped = int(getattr(config, "num_key_value_heads", None) or heads) < heads
        self.attention_impl: str | None = None
        if config._attn_implementation == "sdpa":
            self.attention_impl = KERNEL_DECODE if attention == "kernel" else GROUPED_DECODE if grouped else None
        self.cache = cache
        self.ids = first.view(batch, lanes).clone()
        self.position = position.view(batch, lanes).clone()
        self.lanes = lanes
        self.attention = torch.zeros((batch, 1, lanes, cache_len), dtype=torch.bool, device=visible.device)
        self.attention[:, 0, :, :width] = visible
        # Flat indices into each row's [lanes, cache_len] mask: lane j's slot of the coming step.
        lane = torch.arange(lanes, device=visible.device)
        self.write_at = lane * cache_len + width + lane
        # For the kernel: each row's first prompt slot any lane reads (a shared layout's prefix starts
        # after its padding) and the slot after the step's own tokens, moved on by `lanes` a step.
        self.bounds = None
        if self.attention_impl == KERNEL_DECODE:
            first = visible.any(dim=1).int().argmax(dim=-1)
            stop = torch.full_like(first, width + lanes)
            self.bounds = torch.stack([first, stop], dim=-1).to(torch.int32).contiguous()

    def __call__(self) -> None:
        self.attention.view(self.attention.shape[0], -1).index_fill_(1, self.write_at, True)
        if self.attention_impl != KERNEL_DECODE:  # the kernel's path records itself, or its fallback
            self.runtime.record(ATTENTION_SDPA)
        with attention_as(self.config, self.attention_impl), decode_step(self.bounds, self.runtime):
            logits = self.model(
                input_ids=self.ids,
                attention_mask=self.attention,
                position_ids=self.position,
                past_key_values=self.cache,
                use_cache=True,
            ).logits
        self.ids.copy_(logits.argmax(dim=-1))
        self.position.add_(1)
        self.write_at.add_(self.lanes)
        if self.bounds is not None:
            self.bounds[:, 1].add_(self.lanes)


def capture_step(step: Callable[[], None], runtime: ModelRuntime) -> Any:
    """Run the step once for real on the model's capture stream (warm-up: the stream's cuBLAS
    workspace, lazy kernels), then capture it there. Returns the graph; the caller replays it for the
    following steps. One stream per model for every pass (a pass holds the model's lock, so its passes
    never capture at once): blocks freed on a stream stay cached for that stream, so a new stream per
    pass would strand its warm-up's memory under a budget, and a workspace first made inside a capture
    would pin that graph's pool.

    One graph memory pool per model, too, shared by every pass's graph: each capture takes its step's
    transient buffers from a private pool, and a fresh pool per pass left the last one's blocks cached
    beside it (under 22 GiB on an H200, reserved memory crept ~0.12 GiB a pass until a pass ran out of
    memory and the batch was halved for the rest of the run). The previous graph is kept until the next
    one is captured, so the pool, and its free blocks, outlive it and are reused."""
    import torch

    stream = _capture_stream(runtime)
    if runtime.graph_pool is None:
        runtime.graph_pool = torch.cuda.graph_pool_handle()
    pool = runtime.graph_pool
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        step()
    graph = torch.cuda.CUDAGraph()
    # Not `torch.cuda.graph(...)`: it synchronises the device and empties the allocator's cache at every
    # capture. thread_local: the debater and Judge passes run in two worker threads at once.
    try:
        with torch.cuda.stream(stream):
            graph.capture_begin(pool=pool, capture_error_mode="thread_local")
            try:
                step()
            finally:
                graph.capture_end()
    except BaseException:
        # A failed capture (out of memory inside it, say) leaves the pool with no graph using it when no
        # earlier graph holds it; the allocator then refuses that handle for good (INTERNAL ASSERT
        # use_count > 0: on an H100 every later pass of that model decoded eagerly, at 3x the step
        # time), so the next capture takes a fresh pool.
        del graph
        if runtime.last_graph is None:
            runtime.graph_pool = None
        raise
    torch.cuda.current_stream().wait_stream(stream)
    runtime.last_graph = graph  # keeps the pool alive between passes (see above)
    return graph


def _runner(step: _DecodeStep, model_id: str, steps: int, capture: bool) -> Callable[[], None]:
    """A callable that advances one step: eager, or (from the second step on) a graph replay. Records
    which one the pass ran."""
    import torch

    runtime = step.runtime
    if not (capture and steps >= _MIN_GRAPH_STEPS and torch.cuda.is_available()) or runtime.graphs_broken:
        runtime.record(DECODE_EAGER)
        return step
    state: dict[str, Any] = {"graph": None, "calls": 0}

    def advance() -> None:
        state["calls"] += 1
        if state["calls"] == 1:
            try:
                state["graph"] = capture_step(step, runtime)  # the first step runs inside, for real
            except Exception as exc:
                from claimcourt.models.hf.cuda import is_oom

                if is_oom(exc):
                    raise
                runtime.graphs_broken = True
                log.warning("%s: CUDA graph capture failed (%s); decoding eagerly", model_id, exc)
                state["graph"] = None
            runtime.record(DECODE_EAGER if state["graph"] is None else DECODE_GRAPHED)
            return
        if state["graph"] is None:
            step()
        else:
            state["graph"].replay()

    return advance


def decode_greedy(
    model: Any,
    loaded: Any,
    rows: Sequence[Sequence[int]],
    *,
    max_new_tokens: int,
    stop_ids: Sequence[int],
    choose_first: Callable[[Any], Any] | None = None,
    forced: Sequence[int] = (),
    plan: DecodePlan = DEFAULT_PLAN,
) -> list[list[int]]:
    """Greedy generation for prompt rows (token ids): each row's new token ids, cut before its first
    stop token. `choose_first(float logits [B, V]) -> token ids [B]` picks the first token (default:
    argmax); `forced[k]` replaces token k+1 of every row (the Judge's header). The prefill runs in
    slices of at most `plan.prefill_tokens` prompt tokens (None: in one; see prefill.prefill_in_slices).

    The rows are padded on the right, so the prefill is causal attention alone (causal_prefill_attention);
    the decode step's mask then hides each row's padding slots, and its positions continue each row's own.
    """
    import torch

    batch, width = len(rows), max(len(r) for r in rows)
    device = loaded.device
    ids = torch.full((batch, width), loaded.tokenizer.pad_token_id, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(list(row), dtype=torch.long)
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long, device=device)
    ids = ids.to(device)
    cache_len = max(width + max_new_tokens - 1, width + 1)  # the last token is never fed back

    def prefill(part: slice, start: int, cache: Any) -> Any:
        rows_ids = ids[part]
        with _head_reads(model, lengths[part] - 1):
            return model(
                input_ids=rows_ids,
                position_ids=torch.arange(width, device=device).expand(rows_ids.shape[0], width),
                past_key_values=cache,
                use_cache=True,
                logits_to_keep=0,
            ).logits[:, 0, :]

    with torch.inference_mode():
        with attention_as(loaded.config, CAUSAL_PREFILL):
            cache, logits = prefill_in_slices(loaded, batch, width, cache_len, prefill, plan)
        first = choose_first(logits) if choose_first is not None else logits.argmax(dim=-1)
        real = torch.arange(width, device=device).view(1, width) < lengths.view(batch, 1)
        tokens = continue_greedy(
            model,
            loaded,
            cache,
            visible=real[:, None, :],
            position=lengths.view(batch, 1),
            first=first.view(-1, 1),
            cache_len=cache_len,
            max_new_tokens=max_new_tokens,
            stop_ids=stop_ids,
            forced=forced,
            plan=plan,
        )
    return [lanes[0] for lanes in tokens]


class _Timing:
    """The decode loop's ms per step, for the pass log (benchmarks read the decode apart from the
    prefill there). The one wait it adds, for the prefill to finish, comes once per pass."""

    def __init__(self, device: Any) -> None:
        self.started = synced_clock(device, log)

    def done(self, steps: int, rows: int, lanes: int) -> None:
        if steps and self.started is not None:  # the tokens were read back: the device is done
            elapsed = time.perf_counter() - self.started
            log.info("decoded %d steps of %d rows x %d lanes: %.1f ms/step", steps, rows, lanes, elapsed / steps * 1e3)


def continue_greedy(
    model: Any,
    loaded: Any,
    cache: Any,
    *,
    visible: Any,
    position: Any,
    first: Any,
    cache_len: int,
    max_new_tokens: int,
    stop_ids: Sequence[int],
    forced: Sequence[int] = (),
    plan: DecodePlan = DEFAULT_PLAN,
) -> list[list[list[int]]]:
    """The decode loop after a prefill into `cache`: for each row, each lane's new token ids (`first`
    [B, lanes] included), cut before the lane's first stop token. See _DecodeStep for the arguments."""
    import torch

    stops = torch.tensor(sorted(set(stop_ids)), dtype=torch.long, device=first.device)
    tokens = [first]
    timing = _Timing(first.device)
    if max_new_tokens > 1:
        step = _DecodeStep(
            model, loaded.config, cache, visible, position, first, cache_len, plan.attention, loaded.runtime
        )
        advance = _runner(step, loaded.model_id, max_new_tokens - 1, plan.capture)
        for k in range(1, max_new_tokens):
            advance()
            if k <= len(forced):
                step.ids.fill_(forced[k - 1])
            tokens.append(step.ids.clone())
            if k % _DONE_CHECK_EVERY == 0 and bool(torch.isin(torch.stack(tokens, -1), stops).any(-1).all()):
                break
    out = torch.stack(tokens, -1).tolist()  # [B, lanes, steps]
    timing.done(len(tokens) - 1, *first.shape)
    stop_set = set(stop_ids)
    return [
        [lane[: next((k for k, tok in enumerate(lane) if tok in stop_set), len(lane))] for lane in row] for row in out
    ]
