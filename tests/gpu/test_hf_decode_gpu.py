"""The graphed decode loop (models/hf/decode) on a CUDA GPU with 4-bit NF4 weights: the decode step
really is captured as a CUDA graph (bitsandbytes' kernels inside it), and the graphed loop gives
generate's tokens, verdict logits and rationale; the model's runtime record says which path ran.
Skipped where there is no GPU (CI)."""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import pytest

from claimcourt.config import HFSettings
from claimcourt.models.hf import engine as hf_engine
from claimcourt.models.hf.decode import loop as hf_decode
from claimcourt.models.hf.decode.plan import DecodePlan
from claimcourt.models.hf.loading import ModelRegistry
from claimcourt.models.hf.prompts import label_token_ids
from claimcourt.models.hf.runtime import ATTENTION_KERNEL, ATTENTION_SDPA, DECODE_EAGER, DECODE_GRAPHED, PREFILL_FUSED
from tests.hf_tiny import TinyModels, build_tiny_models

pytestmark = pytest.mark.gpu
# transformers' generate over a static cache: what the graphed loop must match.
GENERATE = DecodePlan(graphed=False, cache_implementation="static")


def _cuda() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return bool(torch.cuda.is_available())


if not _cuda() or importlib.util.find_spec("bitsandbytes") is None:
    pytest.skip("needs a CUDA GPU and bitsandbytes", allow_module_level=True)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return build_tiny_models(tmp_path_factory.mktemp("tiny-decode-gpu"), hidden=256, layers=2)


def settings_for(tiny: TinyModels, model: str) -> HFSettings:
    return HFSettings(
        debater_model=model, judge_model=str(tiny.mistral), judge_adapter=str(tiny.adapter), quantization="nf4"
    )


def assert_every_token_greedy_but_for_near_ties(
    model: Any, loaded: Any, prompts: list[list[int]], *paths: list[list[int]], max_new_tokens: int = 24
) -> None:
    """Every token each path took is the model's greedy token after the prompt and the path's own
    tokens before it, within bf16 noise; where a path stopped short, its stop token is. The reference
    is one plain forward per row and path (no cache, no batch), whose logits at each position are read.

    In bf16 two attention layouts (a shared prefix, a padded batch) round differently, so on a tiny
    random model whose logits are nearly flat two paths may take different ones of two near-tied
    tokens and then go on apart; how many rows meet such a tie in 24 steps is a property of the
    weights (3 of 8 and 5 of 16 rows in two GPU runs), not of the path. So the paths are not compared
    with each other but each with the model, token by token: a real error (a lane reading the other
    lane, a wrong position or slot) takes a token that is not the greedy one by a clear margin."""
    import torch

    stops = hf_engine.stop_token_ids(loaded)
    for which, path in enumerate(paths):
        for row, (prompt, tokens) in enumerate(zip(prompts, path, strict=True)):
            with torch.inference_mode():
                ids = torch.tensor([prompt + tokens], device=loaded.device)
                logits = model(input_ids=ids).logits[0, len(prompt) - 1 :].float()  # [len(tokens) + 1, V]
            for k in range(min(len(tokens) + 1, max_new_tokens)):
                step = logits[k]
                took = tokens[k] if k < len(tokens) else max(stops, key=lambda t: float(step[t]))
                gap = float(step.max() - step[took])
                # bf16 keeps 8 significant bits: a few rounding steps at the logits' scale. 16 of them
                # here (1.0 at logits of 8 to 16): checked at every token of 32 rows, two H100 runs
                # found the batched paths up to 10 from the reference (0.625 at 11.4; a path's first
                # parting from the other was never past 5); a token from a wrong context misses the
                # greedy one by more than the logits' spread of a few units somewhere in 24 steps.
                ulp = 2.0 ** (math.floor(math.log2(float(step.abs().max()))) - 7)
                assert gap <= 16 * ulp, (f"path {which}, row {row}, token {k}", gap, float(step.abs().max()))


TEXTS = [
    "A method for producing hydrogen by electrolysis of water using electricity from solar panels.",
    "A shoe comprising a sole.",
    "An apparatus for capturing carbon dioxide from flue gas of a power plant with an amine solvent.",
    "A wind turbine blade comprising a carbon fibre spar and a control system for the pitch.",
]

MORE_TEXTS = [
    "A heat pump water heater comprising a refrigerant circuit and a storage tank with a stratifier.",
    "A toothbrush handle with a replaceable head and a grip of moulded rubber.",
    "A battery management system balancing the cells of a lithium-ion pack in an electric vehicle.",
    "A method of printing a label on a bottle by transferring ink from a rubber pad.",
]


@pytest.mark.parametrize("name", ["phi3", "mistral"])
def test_nf4_decode_step_is_captured_and_gives_generates_tokens(tiny: TinyModels, name: str) -> None:
    path = str(getattr(tiny, name))
    loaded = ModelRegistry(settings_for(tiny, path)).get(path)
    rows = [loaded.tokenizer(t).input_ids for t in TEXTS]
    graphed = DecodePlan().for_pass(loaded, max(len(r) for r in rows) + 24)
    with loaded.role(None) as model:
        plain = hf_engine.generate_texts(model, loaded, rows, max_new_tokens=24, plan=GENERATE)
        ours = hf_engine.generate_texts(model, loaded, rows, max_new_tokens=24, plan=graphed)
    # The graph was captured, not the eager fallback.
    assert loaded.runtime.ran[DECODE_GRAPHED] == 1 and not loaded.runtime.ran[DECODE_EAGER]
    assert not loaded.runtime.graphs_broken
    assert ours == plain
    assert any(len(r) > 4 for r in plain)


def test_nf4_graphed_judge_gives_the_same_logits_and_rationale(tiny: TinyModels) -> None:
    settings = settings_for(tiny, str(tiny.phi3))
    loaded = ModelRegistry(settings).get(settings.judge_model)
    rows = [loaded.tokenizer(t).input_ids for t in TEXTS]
    header = loaded.tokenizer("\n### Rationale:", add_special_tokens=False).input_ids
    out = {}
    graphed = DecodePlan().for_pass(loaded, max(len(r) for r in rows) + 1 + len(header) + 16)
    with loaded.role("judge") as model:
        for decode, plan in (("generate", GENERATE), ("graphed", graphed)):
            out[decode] = hf_engine.judge_with_rationale(
                model,
                loaded,
                rows,
                label_ids=label_token_ids(loaded.tokenizer),
                header_ids=header,
                rationale_tokens=16,
                plan=plan,
            )
    assert loaded.runtime.ran[DECODE_GRAPHED] == 1 and not loaded.runtime.graphs_broken
    for (y0, n0, r0), (y1, n1, r1) in zip(out["generate"], out["graphed"], strict=True):
        assert (y1, n1) == pytest.approx((y0, n0), abs=1e-2)  # bf16 logits
        assert r1 == r0


def test_graphed_passes_reuse_one_memory_pool(tiny: TinyModels) -> None:
    """Pass after pass, the captured decode steps take their buffers from one pool: the memory the
    allocator holds stops growing after the first passes (a pool per pass crept until a budget ran out)."""
    import torch

    path = str(tiny.phi3)
    loaded = ModelRegistry(settings_for(tiny, path)).get(path)
    rows = [loaded.tokenizer(t).input_ids for t in TEXTS] * 8
    reserved = []
    with loaded.role(None) as model:
        for _ in range(10):
            hf_engine.generate_texts(model, loaded, rows, max_new_tokens=24, plan=DecodePlan())
            torch.cuda.synchronize()
            reserved.append(torch.cuda.memory_reserved())
    assert loaded.runtime.ran[DECODE_GRAPHED] == 10 and not loaded.runtime.graphs_broken
    assert reserved[-1] <= reserved[2], [r / 2**20 for r in reserved]


@pytest.mark.parametrize("attention", ["sdpa", "kernel"])
@pytest.mark.parametrize("name", ["phi3", "mistral"])
def test_nf4_shared_prefix_lanes_are_captured_and_give_each_rows_tokens(
    tiny: TinyModels, name: str, attention: str
) -> None:
    """The Advocate and the Skeptic over one copy of their prefix, the two-lane decode step captured
    as a graph with the 4-bit kernels inside (and, with hf.decode_attention = 'kernel', the compiled
    Triton decode kernel): each row's tokens are the tokens it gets alone."""
    from claimcourt.models.hf.decode import shared_prefix as hf_shared_prefix

    path = str(getattr(tiny, name))
    settings = settings_for(tiny, path).model_copy(update={"decode_attention": attention})
    plan = DecodePlan.from_settings(settings)
    assert plan.attention == attention
    loaded = ModelRegistry(settings).get(path)
    tok = loaded.tokenizer
    roles = [" You are the Advocate: argue that it IS green.", " You are the Skeptic: argue that it is NOT green."]
    groups = [[tok(text + role).input_ids for role in roles] for text in TEXTS + MORE_TEXTS]
    assert all(hf_shared_prefix.shared_prefix_len(g) >= hf_shared_prefix.MIN_SHARED_TOKENS for g in groups)
    stops = hf_engine.stop_token_ids(loaded)
    with loaded.role(None) as model:
        ours = hf_shared_prefix.decode_shared(model, loaded, groups, max_new_tokens=24, stop_ids=stops, plan=plan)
        plain = hf_engine.generate_texts(
            model, loaded, [r for g in groups for r in g], max_new_tokens=24, plan=GENERATE
        )
    record = loaded.runtime
    assert record.ran[DECODE_GRAPHED] == 1 and not record.graphs_broken
    # The step attended as asked: through the kernel, without failing ("triton is missing" or a failed
    # compile would show as SDPA only), or through SDPA.
    assert record.kernel_failure is None, record.kernel_failure
    assert bool(record.ran[ATTENTION_KERNEL]) == (attention == "kernel"), record.ran
    assert record.ran[ATTENTION_SDPA] or attention == "kernel", record.ran
    prompts = [r for g in groups for r in g]
    with loaded.role(None) as model:
        assert_every_token_greedy_but_for_near_ties(model, loaded, prompts, [t for lanes in ours for t in lanes], plain)
    assert any(len(r) > 4 for r in plain)


@pytest.mark.parametrize("name", ["phi3", "mistral"])
def test_nf4_prefill_in_slices_gives_the_tokens_of_one_prefill(tiny: TinyModels, name: str) -> None:
    """In NF4 on the GPU, rows prefilled a slice at a time into caches of their own and joined, plain
    and over a shared prefix, decode the tokens they decode when prefilled together."""
    from claimcourt.models.hf.decode import shared_prefix as hf_shared_prefix

    path = str(getattr(tiny, name))
    loaded = ModelRegistry(settings_for(tiny, path)).get(path)
    tok = loaded.tokenizer
    rows = [tok(t).input_ids for t in TEXTS] * 3
    width = max(len(r) for r in rows)
    roles = [" You are the Advocate: argue that it IS green.", " You are the Skeptic: argue that it is NOT green."]
    groups = [[tok(text + role).input_ids for role in roles] for text in TEXTS]
    stops = hf_engine.stop_token_ids(loaded)
    with loaded.role(None) as model:
        whole = hf_decode.decode_greedy(model, loaded, rows, max_new_tokens=24, stop_ids=stops)
        sliced = hf_decode.decode_greedy(
            model, loaded, rows, max_new_tokens=24, stop_ids=stops, plan=DecodePlan(prefill_tokens=width)
        )
        shared_whole = hf_shared_prefix.decode_shared(model, loaded, groups, max_new_tokens=24, stop_ids=stops)
        shared_sliced = hf_shared_prefix.decode_shared(
            model, loaded, groups, max_new_tokens=24, stop_ids=stops, plan=DecodePlan(prefill_tokens=1)
        )
        assert_every_token_greedy_but_for_near_ties(model, loaded, rows, sliced, whole)
        shared_prompts = [r for g in groups for r in g]
        flat = [[t for lanes in out for t in lanes] for out in (shared_sliced, shared_whole)]
        assert_every_token_greedy_but_for_near_ties(model, loaded, shared_prompts, flat[0], flat[1])
    assert loaded.runtime.ran[DECODE_GRAPHED] == 4 and not loaded.runtime.graphs_broken
    assert any(len(r) > 4 for r in whole)


@pytest.mark.parametrize(("heads", "kv_heads", "lanes", "dim"), [(32, 32, 2, 96), (32, 8, 1, 128), (32, 8, 2, 128)])
def test_decode_kernel_in_bf16_is_as_close_to_float32_attention_as_sdpa(
    heads: int, kv_heads: int, lanes: int, dim: int
) -> None:
    """On the GPU the decode step's attention is hf_triton's compiled kernel, and in bf16 its output is
    as close to float32 attention as SDPA's own kernel is (Phi-3's 96-wide heads, Mistral's grouped ones)."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from claimcourt.models.hf.decode import attention as hf_attention
    from claimcourt.models.hf.runtime import ModelRuntime

    gen = torch.Generator(device="cuda").manual_seed(0)
    batch, length = 16, 1100
    query = torch.randn(batch, heads, lanes, dim, generator=gen, device="cuda", dtype=torch.bfloat16)
    key = torch.randn(batch, kv_heads, length, dim, generator=gen, device="cuda", dtype=torch.bfloat16)
    value = torch.randn(batch, kv_heads, length, dim, generator=gen, device="cuda", dtype=torch.bfloat16)
    mask = torch.rand(batch, 1, lanes, length, generator=gen, device="cuda") > 0.2
    mask[..., -1] = True

    class Module(torch.nn.Module):
        num_key_value_groups = heads // kv_heads
        is_causal = True

    args = (Module(), query, key, value, mask)
    runtime = ModelRuntime()
    with hf_attention.decode_step(None, runtime):
        ours, _ = hf_attention.kernel_decode_attention(*args, scaling=dim**-0.5)
    # The kernel ran ("triton is missing" or a failed compile would have attended through SDPA).
    assert runtime.ran[ATTENTION_KERNEL] == 1 and runtime.kernel_failure is None, runtime
    fused, _ = sdpa_attention_forward(*args, scaling=dim**-0.5)
    exact, _ = sdpa_attention_forward(Module(), query.float(), key.float(), value.float(), mask, scaling=dim**-0.5)
    ours_err = (ours.float() - exact).abs().max().item()
    fused_err = (fused.float() - exact).abs().max().item()
    assert ours.dtype == torch.bfloat16 and ours.shape == fused.shape
    assert ours_err <= 2 * fused_err + 1e-3, (ours_err, fused_err)


@pytest.mark.parametrize(
    ("heads", "kv_heads", "dim", "rotary_dim", "hidden", "inner"),
    [(32, 32, 96, 96, 3072, 8192), (32, 8, 128, 128, 4096, 14336)],
)
def test_fused_prefill_ops_in_bf16_give_eagers_values(
    heads: int, kv_heads: int, dim: int, rotary_dim: int, hidden: int, inner: int
) -> None:
    """Compiled for the GPU, in bf16 at Phi-3's and Mistral's shapes: hf_fused's rotary embedding equals
    eager's bit for bit (same roundings), SiLU x up too but for exp's last bits, and RMSNorm is
    within bf16 rounding of eager (its sum of squares runs in another order)."""
    import torch
    from transformers.models.mistral.modeling_mistral import MistralRMSNorm
    from transformers.models.phi3 import modeling_phi3

    from claimcourt.models.hf.kernels import triton_fused_prefill as hf_fused

    gen = torch.Generator(device="cuda").manual_seed(0)
    bf16 = torch.bfloat16
    batch, seq = 3, 700

    def randn(*shape: int, scale: float = 1.0) -> Any:
        return (torch.randn(*shape, generator=gen, device="cuda") * scale).to(bf16)

    # q and k as the attention makes them: views of one projection, heads transposed
    qkv = randn(batch, seq, (heads + 2 * kv_heads) * dim, scale=3.0)
    q = qkv[..., : heads * dim].view(batch, seq, heads, dim).transpose(1, 2)
    k = qkv[..., heads * dim : (heads + kv_heads) * dim].view(batch, seq, kv_heads, dim).transpose(1, 2)
    angles = torch.arange(seq, device="cuda")[:, None] * torch.rand(rotary_dim // 2, generator=gen, device="cuda")
    angles = torch.cat([angles, angles], dim=-1).expand(batch, seq, rotary_dim)
    cos, sin = angles.cos().to(bf16), angles.sin().to(bf16)
    eager_q, eager_k = modeling_phi3.apply_rotary_pos_emb(q, k, cos, sin)
    assert torch.equal(hf_fused.rotary(q, cos, sin), eager_q)
    assert torch.equal(hf_fused.rotary(k, cos, sin), eager_k)

    gate_up = randn(batch, seq, 2 * inner, scale=4.0)
    gate, up = gate_up.chunk(2, dim=-1)
    eager = up * torch.nn.functional.silu(gate)
    fused = hf_fused.silu_mul(gate, up)
    torch.testing.assert_close(fused, eager)
    assert (fused != eager).float().mean().item() < 1e-3

    x = randn(batch, seq, hidden, scale=5.0)
    norm = MistralRMSNorm(hidden, eps=1e-5).to("cuda", bf16)
    norm.weight.data = randn(hidden)
    with torch.inference_mode():
        eager = norm(x)
    fused = hf_fused.rms_norm(x, norm.weight, norm.variance_epsilon)
    assert fused.dtype == eager.dtype == bf16
    torch.testing.assert_close(fused, eager)  # bf16's own tolerance: a rounding step at most
    assert (fused != eager).float().mean().item() < 0.05


@pytest.mark.parametrize("name", ["phi3", "mistral"])
def test_nf4_fused_prefill_gives_the_tokens_of_eager_ops(
    tiny: TinyModels, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hf.fused_prefill: in NF4 on the GPU, the prefill through hf_fused's compiled kernels (each of
    them called) decodes the tokens eager ops decode, plain rows and over a shared prefix; the decode
    step's graph keeps eager's ops."""
    from claimcourt.models.hf.decode import shared_prefix as hf_shared_prefix
    from claimcourt.models.hf.kernels import triton_fused_prefill as hf_fused

    calls: dict[str, int] = {"rms_norm": 0, "rotary": 0, "silu_mul": 0}
    for op in calls:
        real = getattr(hf_fused, op)

        def counted(*args: Any, op: str = op, real: Any = real) -> Any:
            calls[op] += 1
            return real(*args)

        monkeypatch.setattr(hf_fused, op, counted)
    path = str(getattr(tiny, name))
    loaded = ModelRegistry(settings_for(tiny, path)).get(path)
    tok = loaded.tokenizer
    rows = [tok(t).input_ids for t in TEXTS] * 2
    roles = [" You are the Advocate: argue that it IS green.", " You are the Skeptic: argue that it is NOT green."]
    groups = [[tok(text + role).input_ids for role in roles] for text in TEXTS]
    stops = hf_engine.stop_token_ids(loaded)
    out = {}
    with loaded.role(None) as model:
        for fused in (True, False):
            plan = DecodePlan(fused_prefill=fused)
            plain = hf_decode.decode_greedy(model, loaded, rows, max_new_tokens=24, stop_ids=stops, plan=plan)
            shared = hf_shared_prefix.decode_shared(model, loaded, groups, max_new_tokens=24, stop_ids=stops, plan=plan)
            out[fused] = (plain, [t for lanes in shared for t in lanes])
            if fused:
                assert all(n > 0 for n in calls.values()), calls
                seen, recorded = dict(calls), loaded.runtime.ran[PREFILL_FUSED]
                assert recorded > 0
        assert calls == seen, "the eager run (and every decode step) must not reach the kernels"
        assert loaded.runtime.ran[PREFILL_FUSED] == recorded
        assert_every_token_greedy_but_for_near_ties(model, loaded, rows, out[True][0], out[False][0])
        shared_prompts = [r for g in groups for r in g]
        assert_every_token_greedy_but_for_near_ties(model, loaded, shared_prompts, out[True][1], out[False][1])
    assert loaded.runtime.fused_failure is None and not loaded.runtime.graphs_broken
    assert loaded.runtime.ran[DECODE_GRAPHED] == 4
    assert any(len(r) > 4 for r in out[False][0])


def test_nf4_out_of_memory_inside_a_models_first_capture_leaves_later_passes_graphed(
    tiny: TinyModels, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Out of memory inside the first capture of a model (the Judge's first pass under a budget did
    this on an H100): the pass raises it (the engine halves and retries), and the next pass's decode
    step is still captured as a graph rather than decoded eagerly for the rest of the run."""
    import concurrent.futures

    import torch

    path = str(tiny.mistral)
    loaded = ModelRegistry(settings_for(tiny, path)).get(path)
    rows = [loaded.tokenizer(t).input_ids for t in TEXTS]
    stops = hf_engine.stop_token_ids(loaded)
    real_step = hf_decode._DecodeStep.__call__
    fail = {"next": True}

    def step_out_of_memory_once(self: Any) -> Any:
        result = real_step(self)
        if fail["next"] and torch.cuda.is_current_stream_capturing():
            # Late in the step, as a real one would: the capture has taken blocks into its pool by then,
            # which keeps the pool's entry in the allocator after its last graph is gone.
            fail["next"] = False
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (test)")
        return result

    monkeypatch.setattr(hf_decode._DecodeStep, "__call__", step_out_of_memory_once)

    def two_passes() -> list[list[int]]:
        with loaded.role(None) as model:
            with pytest.raises(torch.OutOfMemoryError):
                hf_decode.decode_greedy(model, loaded, rows, max_new_tokens=24, stop_ids=stops)
            return hf_decode.decode_greedy(model, loaded, rows, max_new_tokens=24, stop_ids=stops)

    with concurrent.futures.ThreadPoolExecutor(1) as thread:  # a thread with no graph yet, like a new worker
        tokens = thread.submit(two_passes).result()
    assert not fail["next"]
    assert not loaded.runtime.graphs_broken and loaded.runtime.ran[DECODE_GRAPHED] == 1
    assert any(len(r) > 4 for r in tokens)


@pytest.mark.parametrize("name", ["phi3", "mistral"])
def test_nf4_fused_prefill_logits_are_as_close_to_float32_as_eagers(
    tiny: TinyModels, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the fused prefill changes is bf16 noise and nothing more: in NF4, the next-token logits of
    a prefill through hf_fused's kernels are no further from the same model computed in float32 than
    eager bf16's are (the tiny random models' near-flat logits make token-level comparisons brittle)."""
    import torch

    from claimcourt.models.hf.kernels import triton_fused_prefill as hf_fused
    from claimcourt.models.hf.runtime import ModelRuntime

    calls = []
    real_norm = hf_fused.rms_norm

    def counted_norm(*args: Any) -> Any:
        calls.append(1)
        return real_norm(*args)

    monkeypatch.setattr(hf_fused, "rms_norm", counted_norm)
    path = str(getattr(tiny, name))
    settings = settings_for(tiny, path)
    bf16 = ModelRegistry(settings).get(path)
    f32 = ModelRegistry(settings.model_copy(update={"compute_dtype": "float32"})).get(path)
    gen = torch.Generator().manual_seed(11)
    ids = torch.randint(10, len(bf16.tokenizer), (6, 96), generator=gen).to(bf16.device)
    with torch.inference_mode():
        with f32.role(None) as model:
            reference = model(input_ids=ids).logits.float()
        with bf16.role(None) as model:
            eager = model(input_ids=ids).logits.float()
            hf_fused.install(model)
            runtime = ModelRuntime()
            with hf_fused.active(runtime):
                fused = model(input_ids=ids).logits.float()
    # The kernels ran, and did not fall back.
    assert calls and runtime.ran[PREFILL_FUSED] and runtime.fused_failure is None
    eager_err = (eager - reference).abs().max().item()
    fused_err = (fused - reference).abs().max().item()
    assert fused_err <= 1.5 * eager_err, (fused_err, eager_err)
