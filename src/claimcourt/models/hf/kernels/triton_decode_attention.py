"""A decode step's attention as one Triton kernel that reads each row's keys and values once.

A decode step has a few queries per cache row (a lane each, times the query heads that share a KV
head) against ~1000 cached keys, each lane with its own mask (decode.shared_prefix's lanes, a row's
padding). SDPA given that mask takes a kernel built for long query blocks: on an H200 a step over 256
claims x 2 lanes of Phi-3-mini ran at ~1 TB/s of its ~4.8 (100 ms where reading the cache takes ~21);
two cuBLAS matmuls were slower still. Here one program takes one (row, KV head, split of the keys),
holds every query that reads that KV head (lanes x grouped heads, padded to 16), and streams the
split's keys and values through an online softmax in float32 (flash-decoding); a few torch ops then
merge the splits by their log-sum-exp. Same arithmetic as the fused kernels: float32 scores and
softmax, probabilities rounded to the values' dtype for the second product, the output normalised in
float32 and rounded once.

Importing this module needs triton (a CUDA build of torch ships it); decode.attention falls back to SDPA
without it. TRITON_INTERPRET=1 runs the kernel on CPU tensors (the unit tests do).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import triton
import triton.language as tl

# Keys per block of the inner loop, and the fewest query rows tl.dot takes.
_BLOCK_N = 64
_MIN_ROWS = 16
# Enough programs to fill a GPU several times over; splits of the keys make up for few rows.
_TARGET_PROGRAMS = 1024
_MIN_SPLIT_KEYS = 256
_NEG = tl.constexpr(-1.0e30)  # a masked score: finite, so a block with no key a query may read gives no NaN


@triton.jit
def _decode_split_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    mask_ptr,
    bounds_ptr,
    acc_ptr,
    max_ptr,
    sum_ptr,
    scale,
    length,
    split_len,
    stride_qb,
    stride_qh,
    stride_ql,
    stride_kb,
    stride_kh,
    stride_kn,
    stride_vb,
    stride_vh,
    stride_vn,
    stride_mb,
    stride_ml,
    HEAD_DIM: tl.constexpr,
    GROUP: tl.constexpr,
    LANES: tl.constexpr,
    ROWS: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_N: tl.constexpr,
    HAS_BOUNDS: tl.constexpr,
):
    row = tl.program_id(0)
    kv_head = tl.program_id(1)
    split = tl.program_id(2)
    kv_heads = tl.num_programs(1)

    r = tl.arange(0, ROWS)  # query r: head kv_head * GROUP + r // LANES, lane r % LANES
    d = tl.arange(0, BLOCK_D)
    real_r = r < GROUP * LANES
    lane = r % LANES
    head = kv_head * GROUP + r // LANES
    q = tl.load(
        q_ptr + row * stride_qb + head[:, None] * stride_qh + lane[:, None] * stride_ql + d[None, :],
        mask=real_r[:, None] & (d[None, :] < HEAD_DIM),
        other=0.0,
    )

    best = tl.full((ROWS,), _NEG, dtype=tl.float32)
    total = tl.zeros((ROWS,), dtype=tl.float32)
    acc = tl.zeros((ROWS, BLOCK_D), dtype=tl.float32)
    start = split * split_len
    stop = tl.minimum(start + split_len, length)
    if HAS_BOUNDS:
        # Blocks wholly before the row's first readable slot or after its last are skipped. The blocks
        # that remain are the same blocks (aligned to BLOCK_N from slot 0), so the sums are the same.
        first = tl.load(bounds_ptr + row * 2)
        start = tl.maximum(start, (first // BLOCK_N) * BLOCK_N)
        stop = tl.minimum(stop, tl.load(bounds_ptr + row * 2 + 1))
    k_base = k_ptr + row * stride_kb + kv_head * stride_kh
    v_base = v_ptr + row * stride_vb + kv_head * stride_vh
    m_base = mask_ptr + row * stride_mb
    for block in range(start, stop, BLOCK_N):
        n = block + tl.arange(0, BLOCK_N)
        in_range = n < stop
        k = tl.load(
            k_base + n[:, None] * stride_kn + d[None, :], mask=in_range[:, None] & (d[None, :] < HEAD_DIM), other=0.0
        )
        v = tl.load(
            v_base + n[:, None] * stride_vn + d[None, :], mask=in_range[:, None] & (d[None, :] < HEAD_DIM), other=0.0
        )
        seen = tl.load(
            m_base + lane[:, None] * stride_ml + n[None, :], mask=real_r[:, None] & in_range[None, :], other=0
        )
        scores = tl.dot(q, tl.trans(k)) * scale
        scores = tl.where(seen != 0, scores, _NEG)
        new_best = tl.maximum(best, tl.max(scores, axis=1))
        alpha = tl.exp(best - new_best)
        p = tl.exp(scores - new_best[:, None])
        p = tl.where(seen != 0, p, 0.0)
        total = total * alpha + tl.sum(p, axis=1)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v)
        best = new_best

    # Only the real queries' partials are written (ROWS pads them to what tl.dot takes).
    out = (row * kv_heads + kv_head) * tl.num_programs(2) + split
    real = GROUP * LANES
    tl.store(
        acc_ptr + out * real * HEAD_DIM + r[:, None] * HEAD_DIM + d[None, :],
        acc,
        mask=real_r[:, None] & (d[None, :] < HEAD_DIM),
    )
    tl.store(max_ptr + out * real + r, best, mask=real_r)
    tl.store(sum_ptr + out * real + r, total, mask=real_r)


def _splits(rows: int, kv_heads: int, length: int) -> int:
    want = max(1, _TARGET_PROGRAMS // max(rows * kv_heads, 1))
    return max(1, min(want, length // _MIN_SPLIT_KEYS))


def decode_attention(query: Any, key: Any, value: Any, mask: Any, scale: float, bounds: Any = None) -> Any:
    """query [B, H, lanes, D]; key, value [B, KVH, L, D] (the static cache; L may exceed the mask's
    keys, which are the first ones); mask [B, 1, lanes, Lm] bool, Lm <= L. Returns [B, lanes, H, D]
    in the query's dtype.

    bounds [B, 2] int32 (optional, on the device): each row's first slot any lane may read and the
    slot after its last; slots outside them must be masked for every lane. The kernel then reads
    neither a shared layout's leading padding nor the static cache's slots not yet written."""
    batch, heads, lanes, dim = query.shape
    kv_heads = key.shape[1]
    length = mask.shape[-1]
    group = heads // kv_heads
    rows = max(_MIN_ROWS, triton.next_power_of_2(group * lanes))
    block_d = max(16, triton.next_power_of_2(dim))
    splits = _splits(batch, kv_heads, length)
    split_len = math.ceil(math.ceil(length / splits) / _BLOCK_N) * _BLOCK_N
    splits = math.ceil(length / split_len)
    if key.stride(-1) != 1 or value.stride(-1) != 1 or query.stride(-1) != 1:
        raise ValueError("decode_attention needs the head dimension contiguous")
    seen = mask.view(torch.uint8)  # bool, read as bytes
    if bounds is not None and (bounds.shape != (batch, 2) or bounds.dtype != torch.int32 or not bounds.is_contiguous()):
        raise ValueError("decode_attention's bounds are [rows, 2] contiguous int32")
    acc = torch.empty((batch, kv_heads, splits, group * lanes, dim), dtype=torch.float32, device=query.device)
    best = torch.empty((batch, kv_heads, splits, group * lanes), dtype=torch.float32, device=query.device)
    total = torch.empty_like(best)
    _decode_split_kernel[(batch, kv_heads, splits)](
        query,
        key,
        value,
        seen,
        seen if bounds is None else bounds,
        acc,
        best,
        total,
        float(scale),
        length,
        split_len,
        query.stride(0),
        query.stride(1),
        query.stride(2),
        key.stride(0),
        key.stride(1),
        key.stride(2),
        value.stride(0),
        value.stride(1),
        value.stride(2),
        seen.stride(0),
        seen.stride(2),
        HEAD_DIM=dim,
        GROUP=group,
        LANES=lanes,
        ROWS=rows,
        BLOCK_D=block_d,
        BLOCK_N=_BLOCK_N,
        HAS_BOUNDS=bounds is not None,
    )
    # Merge the splits: each split's sum and output rescaled to the row's largest maximum.
    top = best.amax(dim=2, keepdim=True)
    weight = torch.exp(best - top)  # [B, KVH, S, R]
    numerator = (acc * weight[..., None]).sum(dim=2)  # [B, KVH, G * lanes, D]
    denominator = (total * weight).sum(dim=2)  # [B, KVH, G * lanes]
    out = numerator / denominator[..., None]
    # rows are (group member, lane): [B, KVH, G, lanes, D] -> [B, lanes, H, D]
    out = out.view(batch, kv_heads, group, lanes, dim).permute(0, 3, 1, 2, 4).reshape(batch, lanes, heads, dim)
    return out.to(query.dtype)
