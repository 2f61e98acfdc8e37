"""The attention functions decode.loop registers with transformers for its own passes.

- `causal_prefill_attention`: the prefill of right-padded rows into an empty static cache is causal
  attention alone, so SDPA can take its flash kernel instead of reading a dense padding mask.
- `kernel_decode_attention`: a decode step through the Triton flash-decoding kernel, where it runs;
- `grouped_decode_attention`: otherwise through SDPA, without repeating K and V per query head for a
  grouped-query model.

`attention_as` switches a model's attention to one of them for the length of a block (a pass holds
the model's lock, so no other pass sees the switch). Nothing here imports torch at import time.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from claimcourt.models.hf.runtime import ATTENTION_KERNEL, ATTENTION_SDPA, ModelRuntime

log = logging.getLogger(__name__)

GROUPED_DECODE = "claimcourt_grouped_decode"
KERNEL_DECODE = "claimcourt_kernel_decode"
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


def kernel_decode_attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kwargs: Any
) -> tuple[Any, None]:
    """A decode step's attention through the Triton decode kernel (each row's keys and values read once, every
    lane and grouped query head of a KV head in one program), where it can run: CUDA tensors and triton
    installed (or triton's CPU interpreter, TRITON_INTERPRET=1), and where it has not failed on this
    model (`ModelRuntime.kernel_failure`). Elsewhere, and for what the kernel does not cover
    (softcapping, dropout, attention sinks), grouped_decode_attention (SDPA). The step's runtime
    (`decode_step`) records which ran."""
    import torch

    runtime: ModelRuntime = getattr(_step, "runtime", None) or ModelRuntime()
    unsupported = kwargs.get("softcap") or kwargs.get("dropout") or kwargs.get("s_aux") is not None
    kernel = decode_kernel() if (query.is_cuda or _interpreted()) and runtime.kernel_failure is None else None
    if kernel is None or unsupported or attention_mask is None or attention_mask.dtype != torch.bool:
        runtime.record(ATTENTION_SDPA)
        return grouped_decode_attention(module, query, key, value, attention_mask, **kwargs)
    scale = kwargs.get("scaling")
    bounds = getattr(_step, "bounds", None)
    if bounds is not None and (bounds.shape[0] != query.shape[0] or bounds.device != query.device):
        bounds = None
    try:
        out = kernel(query, key, value, attention_mask, query.shape[-1] ** -0.5 if scale is None else scale, bounds)
    except Exception as exc:  # a triton that cannot compile it here: SDPA from now on, said once
        from claimcourt.models.hf.cuda import is_oom

        if is_oom(exc) or (query.is_cuda and torch.cuda.is_current_stream_capturing()):
            raise
        runtime.kernel_failure = str(exc)
        log.warning("the decode attention kernel failed (%s); attending through SDPA", exc)
        runtime.record(ATTENTION_SDPA)
        return grouped_decode_attention(module, query, key, value, attention_mask, **kwargs)
    runtime.record(ATTENTION_KERNEL)
    return out, None


_step = threading.local()  # the decode step this thread is running: its bounds and its model's runtime


@contextmanager
def decode_step(bounds: Any, runtime: ModelRuntime) -> Iterator[None]:
    """Inside the block, the decode kernel reads only slots [bounds[r, 0], bounds[r, 1]) of row r
    (bounds [B, 2] int32 on the model's device, or None: every slot; see
    kernels.triton_decode_attention.decode_attention), and `runtime` is the model's record. A tensor,
    not numbers: a captured step reads the values the step has written there by the time it is replayed."""
    _step.bounds, _step.runtime = bounds, runtime
    try:
        yield
    finally:
        _step.bounds = _step.runtime = None


@functools.cache
def _importable_kernel() -> Any:
    """The kernel module, or None where triton is missing (a CPU build of torch): a fact of the process."""
    try:
        from claimcourt.models.hf.kernels import triton_decode_attention
    except ImportError:
        return None
    return triton_decode_attention


def decode_kernel() -> Any:
    """The Triton decode attention kernel, or None where triton is missing."""
    module = _importable_kernel()
    return None if module is None else module.decode_attention


def _interpreted() -> bool:
    import os

    return os.environ.get("TRITON_INTERPRET") == "1"


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
    AttentionInterface.register(KERNEL_DECODE, kernel_decode_attention)
    ALL_MASK_ATTENTION_FUNCTIONS.register(KERNEL_DECODE, sdpa_mask)
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
