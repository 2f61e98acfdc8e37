"""The attention functions hf_decode registers with transformers for its own passes.

- `causal_prefill_attention`: the prefill of right-padded rows into an empty static cache is causal
  attention alone, so SDPA can take its flash kernel instead of reading a dense padding mask.
- `grouped_decode_attention`: a decode step of a grouped-query model attends without repeating K and V
  per query head.

`attention_as` switches a model's attention to one of them for the length of a block (a pass holds
the model's lock, so no other pass sees the switch). Nothing here imports torch at import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

GROUPED_DECODE = "claimcourt_grouped_decode"
MATMUL_DECODE = "claimcourt_matmul_decode"
CAUSAL_PREFILL = "claimcourt_causal_prefill"


def grouped_decode_attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kwargs: Any
) -> tuple[Any, None]:
    """SDPA for a decode step of a grouped-query model without repeating K and V per query head.

    transformers' sdpa path copies each layer's whole K and V cache `heads / kv_heads` times before
    attending whenever there is a mask (on an H200, ~290 GB a step for 256 Judge rows of Mistral-7B).
    The query heads that share a KV head are independent queries over the same keys, so they can ride
    SDPA's query-length axis instead, beside the step's own query positions (one per lane), each with
    its lane's mask row: the same kernel, the same float32 softmax, every key read once.
    """
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    batch, heads, q_len, dim = query.shape
    kv_heads = key.shape[1]
    if kv_heads == heads or attention_mask is None or attention_mask.dtype != torch.bool:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    group = heads // kv_heads  # query head h reads KV head h // group (transformers' repeat_kv order)
    # [B, kv_heads, group * q_len, L]: query (g, i) of a KV head is lane i of its g-th query head.
    mask = attention_mask if q_len == 1 else attention_mask.repeat(1, 1, group, 1)
    out = torch.nn.functional.scaled_dot_product_attention(
        query.reshape(batch, kv_heads, group * q_len, dim),
        key,
        value,
        attn_mask=mask,
        dropout_p=0.0,
        scale=kwargs.get("scaling"),
    )
    return out.reshape(batch, heads, q_len, dim).transpose(1, 2).contiguous(), None


def matmul_decode_attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kwargs: Any
) -> tuple[Any, None]:
    """A decode step's attention as two batched matmuls over the cache, the scores in float32.

    A decode step has a handful of queries per row (a lane each, times the query heads that share a
    KV head) against ~1000 cached keys, so it costs what reading the cache costs. SDPA, given the
    step's mask, takes its memory-efficient kernel, which tiles 32-64 queries per block for the 2-8
    there are; cuBLAS' batched matmul reads each row's keys and values once, at close to the memory's
    bandwidth. Same arithmetic as the fused kernels: scores accumulated and kept in float32 (never
    rounded to bf16), a float32 softmax, probabilities rounded to the values' dtype for the second
    matmul. Where float32 scores from bf16 operands are not available (a CPU, an older torch), and for
    what it does not cover (softcapping, dropout, attention sinks), SDPA as before.
    """
    import torch

    batch, heads, q_len, dim = query.shape
    kv_heads, length = key.shape[1], key.shape[2]
    plain = query.dtype == torch.float32 or (query.is_cuda and _float_scores_on_cuda())
    unsupported = kwargs.get("softcap") or kwargs.get("dropout") or kwargs.get("s_aux") is not None
    if not plain or unsupported or attention_mask is None or attention_mask.dtype != torch.bool:
        return grouped_decode_attention(module, query, key, value, attention_mask, **kwargs)
    group = heads // kv_heads  # query head h reads KV head h // group (transformers' repeat_kv order)
    q = query.reshape(batch * kv_heads, group * q_len, dim)
    k = key.reshape(batch * kv_heads, length, dim)
    v = value.reshape(batch * kv_heads, length, dim)
    if q.dtype == torch.float32:
        scores = torch.bmm(q, k.transpose(1, 2))
    else:
        scores = torch.bmm(q, k.transpose(1, 2), out_dtype=torch.float32)
    scale = kwargs.get("scaling")
    scores = scores.view(batch, kv_heads, group, q_len, length).mul_(dim**-0.5 if scale is None else scale)
    # mask [B, 1, q_len, L]: the same keys for every head of a row's query position.
    scores.masked_fill_(attention_mask[:, :, None, :, :length].logical_not(), float("-inf"))
    probs = torch.softmax(scores, dim=-1).to(value.dtype)
    out = torch.bmm(probs.view(batch * kv_heads, group * q_len, length), v)
    return out.view(batch, heads, q_len, dim).transpose(1, 2).contiguous(), None


_float_scores: dict[str, bool] = {}


def _float_scores_on_cuda() -> bool:
    """Whether this torch's CUDA bmm writes float32 from bf16 operands (`out_dtype`, torch >= 2.8)."""
    import torch

    if "cuda" not in _float_scores:
        try:
            a = torch.zeros((1, 1, 8), dtype=torch.bfloat16, device="cuda")
            torch.bmm(a, a.transpose(1, 2), out_dtype=torch.float32)
            _float_scores["cuda"] = True
        except (RuntimeError, TypeError, NotImplementedError):
            _float_scores["cuda"] = False
    return _float_scores["cuda"]


def causal_prefill_attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kwargs: Any
) -> tuple[Any, None]:
    """SDPA for the prefill of right-padded rows into an empty static cache: plain causal attention
    over the prompt's slots, no mask.

    With rows padded on the right, a real token's predecessors are all real, so causality alone is
    the right mask (the padding's own outputs are never read), and SDPA can take its flash kernel,
    which skips the masked half. A padding mask instead forces the kernel that reads a dense mask and
    computes all of it. The static cache hands back all its slots; the prompt's are the first q_len.
    """
    import torch
    from transformers.integrations.sdpa_attention import repeat_kv

    q_len = query.shape[2]
    key, value = key[:, :, :q_len], value[:, :, :q_len]
    if key.shape[1] != query.shape[1]:
        group = query.shape[1] // key.shape[1]
        key, value = repeat_kv(key, group), repeat_kv(value, group)
    out = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, dropout_p=0.0, is_causal=True, scale=kwargs.get("scaling")
    )
    return out.transpose(1, 2).contiguous(), None


def _no_mask(*args: Any, **kwargs: Any) -> None:
    return None


def _register_attention() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    AttentionInterface.register(GROUPED_DECODE, grouped_decode_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(GROUPED_DECODE, sdpa_mask)
    AttentionInterface.register(MATMUL_DECODE, matmul_decode_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(MATMUL_DECODE, sdpa_mask)
    AttentionInterface.register(CAUSAL_PREFILL, causal_prefill_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(CAUSAL_PREFILL, _no_mask)


@contextmanager
def attention_as(config: Any, implementation: str | None) -> Iterator[None]:
    """Run the model's attention through `implementation` (None: as configured) inside the block; a
    pass holds the model's lock, so no other pass sees the switch."""
    if implementation is None:
        yield
        return
    _register_attention()
    configured = config._attn_implementation_internal
    config._attn_implementation_internal = implementation
    try:
        yield
    finally:
        config._attn_implementation_internal = configured
