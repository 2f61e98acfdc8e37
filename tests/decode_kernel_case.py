"""One case of hf_triton's decode kernel against SDPA, run by test_hf_decode in a process of its own
with TRITON_INTERPRET=1: `python -m tests.decode_kernel_case HEADS KV_HEADS LANES LENGTH`.

Checks, in float32: grouped KV heads or not, one to three lanes that each read their own keys, keys
split across programs or not, a head size that is not a power of two, a mask shorter than the cache
(the slots past it are never read), and a lane whose whole first split is hidden."""

from __future__ import annotations

import sys

import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from claimcourt.models.hf_attention import _decode_kernel, kernel_decode_attention


def main(heads: int, kv_heads: int, lanes: int, length: int) -> None:
    assert _decode_kernel() is not None, "hf_triton did not import: the case would test SDPA against itself"
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
    print("kernel equals sdpa")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:5]))
