"""Cases of hf_fused's prefill kernels against eager ops, run by test_hf_decode in a process of its own
with TRITON_INTERPRET=1 (triton's CPU interpreter must be on before triton is first imported):

    python -m tests.fused_prefill_case ops
    python -m tests.fused_prefill_case models

ops: each kernel against the eager op it replaces, in float32 (the interpreter's bf16 casts truncate
where a GPU rounds; tests/gpu compares bf16): RMSNorm over a width that is not a power of two, the
rotary embedding over q and k as views of one projection (whole and partial rotary, a head size that
is not a power of two), SiLU x up over the halves of one projection.
models: tiny Phi-3 and Mistral decode the same tokens, and the Judge reads the same verdict logits,
with hf.fused_prefill on as off, each kernel called; in bf16 a plain forward gives eager's logits
within a few bf16 rounding steps at the logits' scale (see `bf16_steps`)."""

from __future__ import annotations

import math
import sys

import torch

from claimcourt.models.hf.kernels import triton_fused_prefill as hf_fused


def ops() -> None:
    from transformers.models.phi3 import modeling_phi3

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(2, 7, 48, generator=gen) * 3
    norm = modeling_phi3.Phi3RMSNorm(48, eps=1e-5)
    norm.weight.data = torch.randn(48, generator=gen)
    with torch.no_grad():
        torch.testing.assert_close(hf_fused.rms_norm(x, norm.weight, 1e-5), norm(x), rtol=1e-6, atol=1e-6)
    heads, kv_heads, dim, seq = 4, 2, 24, 19
    qkv = torch.randn(2, seq, (heads + 2 * kv_heads) * dim, generator=gen)
    q = qkv[..., : heads * dim].view(2, seq, heads, dim).transpose(1, 2)
    k = qkv[..., heads * dim : (heads + kv_heads) * dim].view(2, seq, kv_heads, dim).transpose(1, 2)
    for rotary_dim in (dim, 16):
        cos, sin = (torch.randn(2, seq, rotary_dim, generator=gen) for _ in range(2))
        eager_q, eager_k = modeling_phi3.apply_rotary_pos_emb(q, k, cos, sin)
        assert torch.equal(hf_fused.rotary(q, cos, sin), eager_q), rotary_dim
        assert torch.equal(hf_fused.rotary(k, cos, sin), eager_k), rotary_dim
    gate, up = torch.randn(2, seq, 2 * 40, generator=gen).chunk(2, dim=-1)
    torch.testing.assert_close(hf_fused.silu_mul(gate, up), up * torch.nn.functional.silu(gate))

    # bf16, the dtype the models run in: each product and sum rounded where eager rounds it, to nearest
    # with ties to even, so the rotary embedding is eager's to the bit. SiLU x up is too but for exp:
    # the interpreter's (numpy's) and torch's may differ in float32's last bits, which can carry a value
    # across a bf16 rounding boundary (one step of that element; the product may add one more).
    bf16 = torch.bfloat16
    qkv = (torch.randn(2, seq, (heads + 2 * kv_heads) * dim, generator=gen) * 4).to(bf16)
    q = qkv[..., : heads * dim].view(2, seq, heads, dim).transpose(1, 2)
    k = qkv[..., heads * dim : (heads + kv_heads) * dim].view(2, seq, kv_heads, dim).transpose(1, 2)
    for rotary_dim in (dim, 16):
        cos, sin = (torch.randn(2, seq, rotary_dim, generator=gen).to(bf16) for _ in range(2))
        eager_q, eager_k = modeling_phi3.apply_rotary_pos_emb(q, k, cos, sin)
        assert torch.equal(hf_fused.rotary(q, cos, sin), eager_q), rotary_dim
        assert torch.equal(hf_fused.rotary(k, cos, sin), eager_k), rotary_dim
    # One row of cos and sin for every row of q (a forward without position ids builds them [1, T]):
    # broadcast as eager's are, never read past their end.
    cos, sin = (torch.randn(1, seq, dim, generator=gen).to(bf16) for _ in range(2))
    eager_q, _ = modeling_phi3.apply_rotary_pos_emb(q, k, cos, sin)
    assert torch.equal(hf_fused.rotary(q, cos, sin), eager_q)
    gate, up = (torch.randn(2, seq, 2 * 300, generator=gen) * 4).to(bf16).chunk(2, dim=-1)
    fused_silu, eager_silu = hf_fused.silu_mul(gate, up), up * torch.nn.functional.silu(gate)
    torch.testing.assert_close(fused_silu, eager_silu, rtol=2 * 2.0**-7, atol=0.0)  # two bf16 steps at most
    assert (fused_silu != eager_silu).float().mean() < 0.01
    x = (torch.randn(2, seq, 3072, generator=gen) * 5).to(bf16)
    norm = modeling_phi3.Phi3RMSNorm(3072, eps=1e-5).to(bf16)
    norm.weight.data = torch.randn(3072, generator=gen).to(bf16)
    with torch.no_grad():
        eager = norm(x)
    fused = hf_fused.rms_norm(x, norm.weight, 1e-5)
    torch.testing.assert_close(fused, eager)  # the sum of squares in another order: a rounding step at most
    assert (fused != eager).float().mean() < 0.01
    print("fused ops equal eager")


def bf16_steps(fused: torch.Tensor, eager: torch.Tensor) -> float:
    """The largest gap between two bf16 tensors, in bf16 rounding steps at the scale of `eager`'s
    largest magnitude: bf16 keeps 8 significant bits, so a step there is 2 ** (floor(log2(max)) - 7)."""
    scale = float(eager.float().abs().max())
    step = 2.0 ** (math.floor(math.log2(scale)) - 7)
    return float((fused.float() - eager.float()).abs().max()) / step


def models() -> None:
    import tempfile
    from pathlib import Path

    from claimcourt.models.hf import engine as hf_engine
    from claimcourt.models.hf.decode import shared_prefix as hf_shared_prefix
    from claimcourt.models.hf.decode.loop import decode_greedy
    from claimcourt.models.hf.decode.plan import DecodePlan
    from claimcourt.models.hf.loading import ModelRegistry
    from claimcourt.models.hf.prompts import label_token_ids
    from claimcourt.models.hf.runtime import PREFILL_FUSED, ModelRuntime
    from tests.hf_tiny import build_tiny_models, float32_settings, prefix_groups

    calls = {"rms_norm": 0, "rotary": 0, "silu_mul": 0}
    for op in calls:
        real = getattr(hf_fused, op)

        def counted(*args: object, op: str = op, real: object = real) -> object:
            calls[op] += 1
            return real(*args)  # type: ignore[operator]

        setattr(hf_fused, op, counted)
    with tempfile.TemporaryDirectory() as tmp:
        tiny = build_tiny_models(Path(tmp))
        for name in ("phi3", "mistral"):
            settings = float32_settings(tiny, name)
            loaded = ModelRegistry(settings).get(settings.debater_model)
            groups = prefix_groups(len(loaded.tokenizer))
            stops = hf_engine.stop_token_ids(loaded)
            decoded = {}
            for fused in (False, True):
                plan = DecodePlan(fused_prefill=fused)
                before, recorded = dict(calls), loaded.runtime.ran[PREFILL_FUSED]
                with loaded.role(None) as model:
                    shared = hf_shared_prefix.decode_shared(
                        model, loaded, groups, max_new_tokens=12, stop_ids=stops, plan=plan
                    )
                    plain = decode_greedy(
                        model, loaded, [row for g in groups for row in g], max_new_tokens=12, stop_ids=stops, plan=plan
                    )
                decoded[fused] = (shared, plain)
                ran = all(calls[op] > before[op] for op in calls)
                assert ran == fused, (name, fused, calls, before)
                assert (loaded.runtime.ran[PREFILL_FUSED] > recorded) == fused, (name, fused, loaded.runtime.ran)
            assert loaded.runtime.fused_failure is None, name
            assert decoded[True] == decoded[False], name
            assert sum(len(t) > 2 for t in decoded[False][1]) >= 2, name  # really decoded
            # In bf16, a forward of its own (position ids left to the model: cos and sin of one row for
            # every row). The rotary embedding and SiLU x up are eager's to the bit (see `ops`), but the
            # fused RMSNorm sums its squares in another order, so a normalised value may land one
            # rounding step from eager's; whether one does depends on the CPU's reduction kernels (a
            # phi3 logit half a step apart on one machine, none on another). Through the two layers of
            # the tiny model that moves a logit by a step or two at the logits' scale; 4 steps leave a
            # margin, while a kernel reading a wrong row or position moves logits by whole units.
            bf16 = ModelRegistry(settings.model_copy(update={"compute_dtype": "bfloat16"})).get(settings.debater_model)
            ids = torch.randint(10, len(bf16.tokenizer), (3, 40), generator=torch.Generator().manual_seed(5))
            with torch.inference_mode(), bf16.role(None) as model:
                eager = model(input_ids=ids).logits
                hf_fused.install(model)
                before = dict(calls)
                with hf_fused.active(ModelRuntime()):
                    fused = model(input_ids=ids).logits
            assert all(calls[op] > before[op] for op in calls), (name, calls, before)
            assert bf16_steps(fused, eager) <= 4, (name, bf16_steps(fused, eager))
        # The Judge (Mistral with its adapter): the same verdict logits and rationale either way.
        judge = ModelRegistry(settings).get(settings.judge_model)
        rows = [judge.tokenizer(t).input_ids for t in ("A solar cell.", "A shoe with a sole, and its laces.")]
        labels = label_token_ids(judge.tokenizer)
        header = judge.tokenizer("\n### Rationale:", add_special_tokens=False).input_ids
        verdicts = {}
        for fused in (False, True):
            with judge.role("judge") as model:
                verdicts[fused] = hf_engine.judge_with_rationale(
                    model,
                    judge,
                    rows,
                    label_ids=labels,
                    header_ids=header,
                    rationale_tokens=8,
                    plan=DecodePlan(fused_prefill=fused).for_pass(judge, max(map(len, rows)) + 1 + len(header) + 8),
                )
        for (y0, n0, r0), (y1, n1, r1) in zip(verdicts[False], verdicts[True], strict=True):
            assert abs(y1 - y0) <= 1e-5 and abs(n1 - n0) <= 1e-5, (y0, y1, n0, n1)
            assert r1 == r0
    print("fused prefill decodes eager's tokens")


if __name__ == "__main__":
    {"ops": ops, "models": models}[sys.argv[1]]()
