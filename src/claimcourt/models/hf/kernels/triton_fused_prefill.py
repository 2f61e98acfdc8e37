"""The prefill's elementwise work as one Triton kernel per op: RMSNorm, the rotary embedding, SiLU x up.

A kernel table of the debaters' prefill (Phi-3-mini in NF4, 128 claims, H200;
benchmarks/results/hf_prefill_kernels_h200_phi3_128_claims.txt) had the GEMMs at 0.93 s of 2.27 s and
about 1 s in elementwise kernels: RMSNorm's cast, square, mean and two products, the rotary
embedding's four products, two `cat`s of rotate_half and one of the partial rotary, SiLU and its
product. Each is a full pass over a [tokens, hidden] tensor. Here each op reads its inputs once and
writes its output once, with eager's roundings: where eager rounds a product or a sum to the input's
dtype, so does the kernel (`_rounded`), so the rotary embedding gives eager's values to the bit and SiLU
x up does but where `exp` differs in its last bit; RMSNorm's sum of squares runs in another order
(float32 either way). On an H100, with these ops fused, a debater pass of 256 rows took ~6.2 s
instead of ~7.0 s (README).

Only the architectures whose ops these are exactly are touched (`_NORMS`, `_GATED_MLPS`,
`_FUSED_MLPS`, `_ROTARY_MODULES`). `install` wraps their forwards once per model; the wrappers run the
kernels only inside `active(runtime)` (the graphed loop's prefill) on a GPU tensor, or under
TRITON_INTERPRET=1 (the unit tests), and eager otherwise: a decode step's CUDA graph is captured
outside and keeps eager's ops. The model's runtime records each fused op that ran, and the first
failure, after which its ops run eager. Importing this module needs triton.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import torch
import triton
import triton.language as tl

from claimcourt.models.hf.runtime import PREFILL_FUSED, ModelRuntime

log = logging.getLogger(__name__)

_NORMS = {"Phi3RMSNorm", "MistralRMSNorm", "LlamaRMSNorm", "Qwen2RMSNorm"}
_FUSED_MLPS = {"Phi3MLP"}  # gate_up_proj: [gate | up] in one projection
_GATED_MLPS = {"MistralMLP", "LlamaMLP", "Qwen2MLP"}  # gate_proj, up_proj, down_proj
_ROTARY_MODULES = {
    "transformers.models.phi3.modeling_phi3",
    "transformers.models.mistral.modeling_mistral",
    "transformers.models.llama.modeling_llama",
    "transformers.models.qwen2.modeling_qwen2",
}
# The runtime of the model whose prefill runs inside `active`, on this thread (None: eager ops).
_ACTIVE: ContextVar[ModelRuntime | None] = ContextVar("claimcourt_fused_prefill", default=None)
_INSTALLED = "_claimcourt_fused_ops"


@triton.jit
def _rounded(x, dtype: tl.constexpr, BF16: tl.constexpr):
    """float32 `x` rounded to `dtype` (to nearest, ties to even) and widened back. bfloat16 by its bits:
    on an H100 the cast pair `.to(bf16).to(f32)` between a product and a sum did not round as eager
    does (the rotary embedding differed from eager's in the last bit), so no compiler pass gets to
    fold it here."""
    if BF16:
        bits = x.to(tl.uint32, bitcast=True)
        bits = bits + 0x7FFF + ((bits >> 16) & 1)
        return ((bits >> 16) << 16).to(tl.float32, bitcast=True)
    else:
        return x.to(dtype).to(tl.float32)


@triton.jit
def _rms_norm_kernel(
    x_ptr,
    w_ptr,
    out_ptr,
    stride_x,
    stride_out,
    cols,
    eps,
    BLOCK: tl.constexpr,
    BF16: tl.constexpr,
    OUT_BF16: tl.constexpr,
):
    row = tl.program_id(0)
    c = tl.arange(0, BLOCK)
    inside = c < cols
    raw = tl.load(x_ptr + row * stride_x + c, mask=inside, other=0.0)
    x = raw.to(tl.float32)
    variance = tl.sum(x * x, axis=0) / cols
    # eager: (x * rsqrt(variance + eps)).to(input dtype), then weight * that, rounded once more
    normed = _rounded(x * tl.rsqrt(variance + eps), raw.dtype, BF16)
    weight = tl.load(w_ptr + c, mask=inside, other=0.0)
    out = weight.to(tl.float32) * normed
    if OUT_BF16:
        out = _rounded(out, tl.bfloat16, True)
    tl.store(out_ptr + row * stride_out + c, out, mask=inside)


@triton.jit
def _rotary_kernel(
    x_ptr,
    cos_ptr,
    sin_ptr,
    out_ptr,
    heads,
    seq,
    stride_xb,
    stride_xh,
    stride_xt,
    stride_cb,
    stride_ct,
    HALF: tl.constexpr,
    HEAD_DIM: tl.constexpr,
    BLOCK_HALF: tl.constexpr,
    BLOCK_PASS: tl.constexpr,
    BLOCK_T: tl.constexpr,
    BF16: tl.constexpr,
):
    bh = tl.program_id(0)
    b = bh // heads
    h = bh % heads
    t = tl.program_id(1) * BLOCK_T + tl.arange(0, BLOCK_T)
    i = tl.arange(0, BLOCK_HALF)
    m = (t[:, None] < seq) & (i[None, :] < HALF)
    x_at = x_ptr + b * stride_xb + h * stride_xh + t[:, None] * stride_xt
    c_at = cos_ptr + b * stride_cb + t[:, None] * stride_ct
    s_at = sin_ptr + b * stride_cb + t[:, None] * stride_ct
    x1 = tl.load(x_at + i[None, :], mask=m, other=0.0)
    x2 = tl.load(x_at + HALF + i[None, :], mask=m, other=0.0)
    dtype = x1.dtype
    cos1 = tl.load(c_at + i[None, :], mask=m, other=0.0).to(tl.float32)
    cos2 = tl.load(c_at + HALF + i[None, :], mask=m, other=0.0).to(tl.float32)
    sin1 = tl.load(s_at + i[None, :], mask=m, other=0.0).to(tl.float32)
    sin2 = tl.load(s_at + HALF + i[None, :], mask=m, other=0.0).to(tl.float32)
    a1 = x1.to(tl.float32)
    a2 = x2.to(tl.float32)
    # eager: (x * cos) + (rotate_half(x) * sin), rotate_half(x) = cat(-x2, x1); each product and the
    # sum rounded to x's dtype
    out1 = _rounded(_rounded(a1 * cos1, dtype, BF16) + _rounded(-a2 * sin1, dtype, BF16), dtype, BF16)
    out2 = _rounded(_rounded(a2 * cos2, dtype, BF16) + _rounded(a1 * sin2, dtype, BF16), dtype, BF16)
    o_at = out_ptr + (bh * seq + t[:, None]) * HEAD_DIM
    tl.store(o_at + i[None, :], out1.to(dtype), mask=m)  # already a value of dtype: exact
    tl.store(o_at + HALF + i[None, :], out2.to(dtype), mask=m)
    if BLOCK_PASS > 0:  # the dimensions past the rotary ones (Phi-3's partial rotary) pass unchanged
        p = 2 * HALF + tl.arange(0, BLOCK_PASS)
        pm = (t[:, None] < seq) & (p[None, :] < HEAD_DIM)
        tl.store(o_at + p[None, :], tl.load(x_at + p[None, :], mask=pm, other=0.0), mask=pm)


@triton.jit
def _silu_mul_kernel(gate_ptr, up_ptr, out_ptr, cols, stride_gate, stride_up, BLOCK: tl.constexpr, BF16: tl.constexpr):
    row = tl.program_id(0)
    c = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    inside = c < cols
    gate = tl.load(gate_ptr + row * stride_gate + c, mask=inside, other=0.0)
    up = tl.load(up_ptr + row * stride_up + c, mask=inside, other=0.0)
    g = gate.to(tl.float32)
    act = _rounded(g / (1.0 + tl.exp(-g)), gate.dtype, BF16)  # eager: silu(gate) rounded, then up * that
    tl.store(out_ptr + row * cols + c, _rounded(up.to(tl.float32) * act, gate.dtype, BF16), mask=inside)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """`weight * (x * rsqrt(mean(x^2) + eps)).to(x.dtype)`, the sum in float32."""
    cols = x.shape[-1]
    rows = x.reshape(-1, cols)
    if rows.stride(-1) != 1:
        rows = rows.contiguous()
    out = torch.empty(rows.shape, dtype=torch.promote_types(weight.dtype, x.dtype), device=x.device)
    _rms_norm_kernel[(rows.shape[0],)](
        rows,
        weight,
        out,
        rows.stride(0),
        out.stride(0),
        cols,
        float(eps),
        BLOCK=triton.next_power_of_2(cols),
        BF16=x.dtype == torch.bfloat16,
        OUT_BF16=out.dtype == torch.bfloat16,
    )
    return out.view(x.shape)


def rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x [B, H, T, D] (head dimension contiguous); cos, sin [B or 1, T, R] with equal strides and R
    contiguous, R <= D even: eager's `cat([x_r * cos + rotate_half(x_r) * sin, x_pass], -1)`,
    contiguous."""
    batch, heads, seq, dim = x.shape
    half = cos.shape[-1] // 2
    # cos and sin of one row for every row (position ids [1, T], as a forward without them builds)
    # broadcast as eager's do: read with a batch stride of 0, not past their end.
    cos_batch_stride = cos.stride(0) if cos.shape[0] > 1 else 0
    out = torch.empty((batch, heads, seq, dim), dtype=x.dtype, device=x.device)
    block_t = 16
    _rotary_kernel[(batch * heads, triton.cdiv(seq, block_t))](
        x,
        cos,
        sin,
        out,
        heads,
        seq,
        x.stride(0),
        x.stride(1),
        x.stride(2),
        cos_batch_stride,
        cos.stride(1),
        HALF=half,
        HEAD_DIM=dim,
        BLOCK_HALF=triton.next_power_of_2(half),
        BLOCK_PASS=triton.next_power_of_2(dim - 2 * half) if dim > 2 * half else 0,
        BLOCK_T=block_t,
        BF16=x.dtype == torch.bfloat16,
    )
    return out


def silu_mul(gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """`up * silu(gate)` with eager's roundings; gate and up [..., I] with the last dimension contiguous."""
    cols = gate.shape[-1]
    g, u = gate.reshape(-1, cols), up.reshape(-1, cols)
    out = torch.empty((g.shape[0], cols), dtype=gate.dtype, device=gate.device)
    block = 1024
    _silu_mul_kernel[(g.shape[0], triton.cdiv(cols, block))](
        g, u, out, cols, g.stride(0), u.stride(0), BLOCK=block, BF16=gate.dtype == torch.bfloat16
    )
    return out.view(gate.shape)


# --- the models' ops, swapped inside active() ------------------------------------------------------


@contextmanager
def active(runtime: ModelRuntime) -> Iterator[None]:
    """The installed wrappers run the kernels inside this block (this thread only), for the model whose
    runtime this is: it records the ops that ran, and the first failure."""
    token = _ACTIVE.set(runtime)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def _running(x: torch.Tensor) -> ModelRuntime | None:
    """The runtime to run and record a fused op for, or None for eager's."""
    runtime = _ACTIVE.get()
    if runtime is None or runtime.fused_failure is not None:
        return None
    return runtime if x.is_cuda or os.environ.get("TRITON_INTERPRET") == "1" else None


def _guarded(fused: Callable[..., Any], eager: Callable[..., Any]) -> Callable[..., Any]:
    """fused(...) where it runs; eager(...) otherwise, and for good after the model's first failure (one
    warning)."""

    def call(*args: Any, **kwargs: Any) -> Any:
        runtime = _running(args[0])
        if runtime is None:
            return eager(*args, **kwargs)
        try:
            out = fused(*args, **kwargs)
        except _NotThisCase:
            return eager(*args, **kwargs)
        except Exception as exc:  # a kernel that does not compile or launch here
            from claimcourt.models.hf.cuda import is_oom

            if is_oom(exc):  # the pass's to handle (it halves its rows), not the kernel's fault
                raise
            runtime.fused_failure = str(exc)
            log.warning("the fused prefill kernels failed (%s); the prefill runs eager ops", exc)
            return eager(*args, **kwargs)
        runtime.record(PREFILL_FUSED)
        return out

    return call


def _fused_rotary(q: Any, k: Any, cos: Any, sin: Any, unsqueeze_dim: int = 1) -> tuple[Any, Any]:
    if unsqueeze_dim != 1 or not (q.dtype == k.dtype == cos.dtype == sin.dtype) or q.stride(-1) != 1:
        raise _NotThisCase
    # The kernel reads sin with cos's strides, the last dimension contiguous, one row or one per q row.
    if sin.stride() != cos.stride() or cos.stride(-1) != 1 or cos.shape[0] not in (1, q.shape[0]):
        raise _NotThisCase
    return rotary(q, cos, sin), rotary(k, cos, sin)


class _NotThisCase(Exception):
    """A call the kernel does not cover: eager takes it, without counting as a failure."""


def _install_rotary(module_name: str) -> None:
    modeling = sys.modules[module_name]
    eager = getattr(modeling, "apply_rotary_pos_emb", None)
    if eager is None or getattr(eager, _INSTALLED, False):
        return
    wrapped = _guarded(_fused_rotary, eager)
    setattr(wrapped, _INSTALLED, True)
    setattr(modeling, "apply_rotary_pos_emb", wrapped)  # noqa: B010 (a module the type checker cannot see into)


def _is_silu(act: Any) -> bool:
    return type(act).__name__ in {"SiLU", "SiLUActivation"}


def install(model: Any) -> None:
    """Wrap the ops of `model` that the kernels cover (once; the wrappers are eager outside active())."""
    if getattr(model, _INSTALLED, False):
        return
    for module in model.modules():
        kind = type(module).__name__
        if kind in _NORMS:
            norm = module

            def norm_fused(x: Any, norm: Any = norm) -> Any:
                return rms_norm(x, norm.weight, norm.variance_epsilon)

            module.forward = _guarded(norm_fused, module.forward)
        elif kind in _FUSED_MLPS and _is_silu(module.activation_fn):
            mlp = module

            def fused_mlp(x: Any, mlp: Any = mlp) -> Any:
                gate, up = mlp.gate_up_proj(x).chunk(2, dim=-1)
                return mlp.down_proj(silu_mul(gate, up))

            module.forward = _guarded(fused_mlp, module.forward)
        elif kind in _GATED_MLPS and _is_silu(module.act_fn):
            mlp = module

            def gated_mlp(x: Any, mlp: Any = mlp) -> Any:
                return mlp.down_proj(silu_mul(mlp.gate_proj(x), mlp.up_proj(x)))

            module.forward = _guarded(gated_mlp, module.forward)
        elif type(module).__module__ in _ROTARY_MODULES:
            _install_rotary(type(module).__module__)
    setattr(model, _INSTALLED, True)
