"""Cases of hf_triton's decode kernel against SDPA, run by test_hf_decode in a process of its own
with TRITON_INTERPRET=1 (triton's CPU interpreter must be on before triton is first imported):

    python -m tests.decode_kernel_case HEADS KV_HEADS LANES LENGTH
    python -m tests.decode_kernel_case models

The first: the attention alone.
Checks, in float32: grouped KV heads or not, one to three lanes that each read their own keys, keys
split across programs or not, a head size that is not a power of two, a mask shorter than the cache
(the slots past it are never read), a lane whose whole first split is hidden, and rows read only
within their bounds."""

from __future__ import annotations

import sys

import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from claimcourt.models.hf.decode.attention import decode_kernel, kernel_decode_attention
from claimcourt.models.hf.kernels.triton_decode_attention import _BLOCK_N


def main(heads: int, kv_heads: int, lanes: int, length: int) -> None:
    assert decode_kernel() is not None, "the kernel did not import: the case would test SDPA against itself"
    gen = torch.Generator().manual_seed(5)
    batch, dim = 3, 24
    query = torch.randn(batch, heads, lanes, dim, generator=gen)
    key = torch.randn(batch, kv_heads, length + 40, dim, generator=gen)
    value = torch.randn(batch, kv_heads, length + 40, dim, generator=gen)
    mask = torch.rand(batch, 1, lanes, length, generator=gen) > 0.4
    mask[:, :, :, 0] = True
    mask[1, :, 0, 1 : length // 2] = False

    class Module(torch.nn.Module):
        num_key_value_groups = heads // kv_heads
        is_causal = True

    key[:, :, length:] = 1e4  # slots past the mask: reading them would swamp the output
    expected, _ = sdpa_attention_forward(Module(), query, key[:, :, :length], value[:, :, :length], mask, scaling=0.3)

    def ours() -> torch.Tensor:
        out, _ = kernel_decode_attention(Module(), query, key, value, mask, scaling=0.3)
        return out

    first = ours()
    assert first.shape == expected.shape == (batch, lanes, heads, dim)
    torch.testing.assert_close(first, expected, rtol=1e-5, atol=1e-5)
    # A key a lane may not read changes nothing; one it reads does.
    hidden = int((~mask[0, 0, 0]).nonzero()[0, 0])
    key[0, :, hidden] += 5.0
    torch.testing.assert_close(ours()[0, 0], first[0, 0])
    key[0, :, 0] += 5.0
    assert not torch.allclose(ours()[0, 0], first[0, 0])
    if length >= 2 * _BLOCK_N + 30:
        bounded(query, key, value, mask)
    print("kernel equals sdpa")


def bounded(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor) -> None:
    """With each row's bounds (first readable slot, slot after the last), the output is the same to the
    bit, and the slots outside them are not read: a NaN there (in whole blocks before the first, in
    any slot from the stop on) reaches the output without bounds and not with them."""
    from claimcourt.models.hf.kernels.triton_decode_attention import decode_attention

    length = mask.shape[-1]
    first, stop = _BLOCK_N + 6, length - 30
    mask[2, :, :, :first] = False
    mask[2, :, :, stop:] = False
    mask[2, :, :, first] = True
    bounds = torch.tensor([[0, length]] * mask.shape[0], dtype=torch.int32)
    bounds[2] = torch.tensor([first, stop], dtype=torch.int32)
    reference = decode_attention(query, key, value, mask, 0.3)
    value[2, :, : first // _BLOCK_N * _BLOCK_N] = float("nan")
    value[2, :, stop:length] = float("nan")
    assert torch.isnan(decode_attention(query, key, value, mask, 0.3)[2]).all()
    out = decode_attention(query, key, value, mask, 0.3, bounds)
    assert torch.equal(out, reference)


def models() -> None:
    """Tiny Phi-3 (no grouped KV heads) and Mistral (grouped) decode through the kernel
    (hf.decode_attention = 'kernel') to the tokens they decode through SDPA, on the shared-prefix
    path (two lanes) and the plain one (padded rows of different lengths)."""
    import tempfile
    from pathlib import Path

    from claimcourt.models.hf import engine as hf_engine
    from claimcourt.models.hf.decode import shared_prefix as hf_shared_prefix
    from claimcourt.models.hf.decode.loop import decode_greedy
    from claimcourt.models.hf.decode.plan import DecodePlan
    from claimcourt.models.hf.loading import ModelRegistry
    from claimcourt.models.hf.runtime import ATTENTION_KERNEL
    from tests.hf_tiny import build_tiny_models, float32_settings, prefix_groups

    kernel_calls = 0
    with tempfile.TemporaryDirectory() as tmp:
        tiny = build_tiny_models(Path(tmp))
        for name in ("phi3", "mistral"):
            decoded = {}
            for attention in ("sdpa", "kernel"):
                settings = float32_settings(tiny, name, decode_attention=attention)
                plan = DecodePlan.from_settings(settings)
                loaded = ModelRegistry(settings).get(settings.debater_model)
                groups = prefix_groups(len(loaded.tokenizer))
                stops = hf_engine.stop_token_ids(loaded)
                with loaded.role(None) as model:
                    shared = hf_shared_prefix.decode_shared(
                        model, loaded, groups, max_new_tokens=12, stop_ids=stops, plan=plan
                    )
                    plain = decode_greedy(
                        model, loaded, [row for g in groups for row in g], max_new_tokens=12, stop_ids=stops, plan=plan
                    )
                decoded[attention] = (shared, plain)
                assert loaded.runtime.kernel_failure is None, name
                assert bool(loaded.runtime.ran[ATTENTION_KERNEL]) == (attention == "kernel"), (name, attention)
                kernel_calls += loaded.runtime.ran[ATTENTION_KERNEL]
            assert decoded["kernel"] == decoded["sdpa"], name
            assert sum(len(t) > 2 for _, plain in decoded.values() for t in plain) >= 4  # really decoded
    assert kernel_calls >= 2 * 2 * 2 * 11  # two models x two paths x their layers x steps went through it
    print("kernel decodes sdpa's tokens")


if __name__ == "__main__":
    if sys.argv[1] == "models":
        models()
    else:
        main(*(int(a) for a in sys.argv[1:5]))
