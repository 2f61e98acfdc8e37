"""The graphed decode loop (models/hf/decode) against transformers' generate, with tiny real models on CPU: the same
tokens for the debaters, the same logits, verdict tokens and rationale for the Judge, whatever the
padding, and the same debate and p_green through the whole backend."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, ClassVar

import pytest

from claimcourt.config import HFSettings
from claimcourt.models.hf import engine as hf_engine
from claimcourt.models.hf.backend import HFBackend
from claimcourt.models.hf.decode.plan import DecodePlan
from claimcourt.models.hf.loading import LoadedModel, ModelRegistry
from claimcourt.models.hf.prompts import label_token_ids
from claimcourt.models.hf.runtime import ATTENTION_KERNEL, ATTENTION_SDPA, PREFILL_FUSED, ModelRuntime
from claimcourt.state import ClaimState, Neighbour
from tests.hf_tiny import TinyModels, build_tiny_models

# transformers' generate over a static cache: what the graphed loop must match.
GENERATE = DecodePlan(graphed=False, cache_implementation="static")
NEIGHBOURS = [Neighbour(id="US-1", text="A wind turbine blade with a carbon fibre spar.", label=1, similarity=0.8)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return build_tiny_models(tmp_path_factory.mktemp("tiny-decode"))


def settings_for(tiny: TinyModels, **overrides: Any) -> HFSettings:
    values: dict[str, Any] = {
        "debater_model": str(tiny.phi3),
        "judge_model": str(tiny.mistral),
        "judge_adapter": str(tiny.adapter),
        "quantization": "none",
        "compute_dtype": "float32",
        "claim_max_tokens": 48,
        "neighbour_max_tokens": 16,
        "debater_max_new_tokens": 20,
        "judge_rationale_tokens": 12,
        "max_batch_size": 8,
    }
    values.update(overrides)
    return HFSettings(**values)


def prompt_rows(loaded: LoadedModel, equal: bool) -> list[list[int]]:
    texts = [
        "A method for producing hydrogen by electrolysis of water using electricity from solar panels.",
        "A shoe comprising a sole.",
        "An apparatus for capturing carbon dioxide from flue gas of a power plant with an amine solvent.",
    ]
    rows = [loaded.tokenizer(t).input_ids for t in texts]
    if equal:  # no padding at all: the mask path transformers may skip
        width = min(len(r) for r in rows)
        rows = [r[:width] for r in rows]
    return rows


@pytest.mark.parametrize("model_name", ["phi3", "mistral", "llama"])
@pytest.mark.parametrize("equal", [False, True])
@pytest.mark.parametrize("new_tokens", [1, 2, 24])
def test_graphed_decode_gives_generates_tokens(tiny: TinyModels, model_name: str, equal: bool, new_tokens: int) -> None:
    path = str(getattr(tiny, model_name))
    registry = ModelRegistry(settings_for(tiny, debater_model=path))
    loaded = registry.get(path)
    rows = prompt_rows(loaded, equal)
    graphed = DecodePlan().for_pass(loaded, max(len(r) for r in rows) + new_tokens)
    assert graphed.graphed
    with loaded.role(None) as model:
        plain = hf_engine.generate_texts(model, loaded, rows, max_new_tokens=new_tokens, plan=GENERATE)
        ours = hf_engine.generate_texts(model, loaded, rows, max_new_tokens=new_tokens, plan=graphed)
    assert ours == plain
    assert any(len(r) > 1 for r in plain) or new_tokens < 3  # the outputs are not all cut at once


@pytest.mark.parametrize("rationale_tokens", [3, 16])
def test_graphed_judge_gives_the_same_logits_verdict_and_rationale(tiny: TinyModels, rationale_tokens: int) -> None:
    settings = settings_for(tiny)
    loaded = ModelRegistry(settings).get(settings.judge_model)
    rows = prompt_rows(loaded, equal=False)
    labels = label_token_ids(loaded.tokenizer)
    header = loaded.tokenizer("\n### Rationale:", add_special_tokens=False).input_ids
    results = {}
    plans = {"generate": GENERATE, "graphed": DecodePlan()}
    with loaded.role("judge") as model:
        for decode, plan in plans.items():
            results[decode] = hf_engine.judge_with_rationale(
                model,
                loaded,
                rows,
                label_ids=labels,
                header_ids=header,
                rationale_tokens=rationale_tokens,
                plan=plan,
            )
    for (y0, n0, r0), (y1, n1, r1) in zip(results["generate"], results["graphed"], strict=True):
        assert y1 == pytest.approx(y0, abs=1e-5) and n1 == pytest.approx(n0, abs=1e-5)
        assert r1 == r0
    assert any(r for _, _, r in results["generate"])


def test_backend_debate_and_p_green_are_the_same_either_way(tiny: TinyModels) -> None:
    states = [
        ClaimState(claim_id=f"c{i}", text=text, neighbours=NEIGHBOURS)
        for i, text in enumerate(
            [
                "A battery management system for an electric vehicle that balances the cells while charging.",
                "A semiconductor device comprising a substrate and a gate electrode.",
                "A wind turbine blade comprising a carbon fibre spar.",
            ]
        )
    ]

    async def debate(backend: HFBackend) -> list[tuple[str, str, float | None, str]]:
        out = []
        for s in states:
            advocate, skeptic = await asyncio.gather(backend.argue("advocate", s), backend.argue("skeptic", s))
            verdict = await backend.judge(s.model_copy(update={"advocate": advocate, "skeptic": skeptic}))
            out.append((advocate.text, skeptic.text, verdict.p_green, verdict.rationale))
        return out

    plain = asyncio.run(debate(HFBackend(settings_for(tiny, decode="generate"))))
    ours = asyncio.run(debate(HFBackend(settings_for(tiny, decode="graphed"))))
    for a, b in zip(plain, ours, strict=True):
        assert a[:2] == b[:2] and a[3] == b[3]
        assert b[2] == pytest.approx(a[2], abs=1e-6)


@pytest.mark.parametrize("lanes", [1, 2, 3])
def test_grouped_decode_attention_equals_sdpa_over_repeated_heads(lanes: int) -> None:
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from claimcourt.models.hf.decode.attention import grouped_decode_attention

    gen = torch.Generator().manual_seed(3)
    batch, heads, kv_heads, length, dim = 3, 8, 2, 11, 16
    query = torch.randn(batch, heads, lanes, dim, generator=gen)
    key = torch.randn(batch, kv_heads, length, dim, generator=gen)
    value = torch.randn(batch, kv_heads, length, dim, generator=gen)
    mask = torch.rand(batch, 1, lanes, length, generator=gen) > 0.3  # each lane its own keys
    mask[:, :, :, -1] = True  # every row attends somewhere

    class Module(torch.nn.Module):
        num_key_value_groups = heads // kv_heads
        is_causal = True

    expected, _ = sdpa_attention_forward(Module(), query, key, value, mask, scaling=dim**-0.5)
    ours, _ = grouped_decode_attention(Module(), query, key, value, mask, scaling=dim**-0.5)
    assert ours.shape == expected.shape == (batch, lanes, heads, dim)
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-6)


def interpreted_case(*args: str, case: str = "tests.decode_kernel_case") -> str:
    """Run a case of tests/decode_kernel_case.py (or `case`) under triton's CPU interpreter (the
    kernels the GPU compiles, in numpy); the interpreter must be on before triton is first imported,
    hence a process of its own. Returns its output."""
    import subprocess
    import sys

    pytest.importorskip("triton")
    done = subprocess.run(
        [sys.executable, "-m", case, *args],
        env={**os.environ, "TRITON_INTERPRET": "1"},
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.parametrize(("heads", "kv_heads", "lanes", "length"), [(4, 4, 2, 300), (8, 2, 1, 700), (8, 2, 3, 64)])
def test_decode_kernel_equals_sdpa(heads: int, kv_heads: int, lanes: int, length: int) -> None:
    """hf_triton's decode kernel gives SDPA's output (see tests/decode_kernel_case.py for the cases)."""
    assert "kernel equals sdpa" in interpreted_case(str(heads), str(kv_heads), str(lanes), str(length))


def test_decoding_through_the_kernel_gives_sdpas_tokens() -> None:
    """hf.decode_attention = 'kernel': tiny Phi-3 and Mistral decode the same tokens as through SDPA,
    two lanes over a shared prefix and padded plain rows."""
    assert "kernel decodes sdpa's tokens" in interpreted_case("models")


def test_fused_prefill_ops_equal_the_eager_ops() -> None:
    """hf_fused's RMSNorm, rotary embedding and SiLU x up give the eager ops' outputs (see
    tests/fused_prefill_case.py)."""
    assert "fused ops equal eager" in interpreted_case("ops", case="tests.fused_prefill_case")


def test_a_fused_prefill_decodes_eagers_tokens_and_judges_alike() -> None:
    """hf.fused_prefill: tiny Phi-3 and Mistral decode the same tokens with the prefill's ops fused as
    eager, on the shared-prefix and the plain path, and the Judge reads the same verdict logits and
    rationale; the kernels run only where the setting is on."""
    assert "fused prefill decodes eager's tokens" in interpreted_case("models", case="tests.fused_prefill_case")


def test_fused_prefill_ops_that_fail_leave_the_prefill_to_eager(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A triton that cannot compile hf_fused's kernels costs one warning: that op and every later one
    run eager, with eager's values."""
    pytest.importorskip("triton")
    import torch
    from transformers.models.phi3 import modeling_phi3

    from claimcourt.models.hf.kernels import triton_fused_prefill as hf_fused

    calls = []

    def broken(*args: Any) -> None:
        calls.append(1)
        raise RuntimeError("PTX compilation failed")

    monkeypatch.setattr(hf_fused, "rms_norm", broken)
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # the wrappers take CPU tensors, as under the interpreter
    norm = modeling_phi3.Phi3RMSNorm(16)
    model = torch.nn.Sequential(norm)
    x = torch.randn(3, 16)
    expected = norm(x)
    hf_fused.install(model)
    runtime = ModelRuntime()
    logger = "claimcourt.models.hf.kernels.triton_fused_prefill"
    with caplog.at_level("WARNING", logger=logger), hf_fused.active(runtime):
        for _ in range(2):
            torch.testing.assert_close(model(x), expected)
    assert calls == [1] and runtime.fused_failure == "PTX compilation failed"
    assert not runtime.ran[PREFILL_FUSED]
    assert "PTX compilation failed" in caplog.text


def test_out_of_memory_in_a_fused_op_goes_to_the_pass_and_keeps_the_kernels(monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of memory inside a fused op is the pass's to handle (it halves its rows and retries), so it
    is raised as it is, and the kernels stay on for the retry."""
    pytest.importorskip("triton")
    import torch
    from transformers.models.phi3 import modeling_phi3

    from claimcourt.models.hf.kernels import triton_fused_prefill as hf_fused

    def out_of_memory(*args: Any) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(hf_fused, "rms_norm", out_of_memory)
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    model = torch.nn.Sequential(modeling_phi3.Phi3RMSNorm(16))
    hf_fused.install(model)
    runtime = ModelRuntime()
    with hf_fused.active(runtime), pytest.raises(torch.OutOfMemoryError):
        model(torch.randn(3, 16))
    assert runtime.fused_failure is None


def test_a_decode_kernel_that_fails_leaves_the_step_to_sdpa(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A triton that cannot compile the kernel on this GPU costs one warning, not the run: that step
    and every later one attend through SDPA."""
    pytest.importorskip("triton")
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from claimcourt.models.hf.decode import attention as hf_attention
    from claimcourt.models.hf.kernels import triton_decode_attention

    calls = []

    def broken(*args: Any) -> None:
        calls.append(1)
        raise RuntimeError("PTX compilation failed")

    monkeypatch.setattr(triton_decode_attention, "decode_attention", broken)
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # the kernel takes CPU tensors, as under the interpreter
    gen = torch.Generator().manual_seed(1)
    query = torch.randn(2, 4, 2, 8, generator=gen)
    key, value = (torch.randn(2, 4, 8, 8, generator=gen) for _ in range(2))
    mask = torch.ones(2, 1, 2, 8, dtype=torch.bool)

    class Module(torch.nn.Module):
        num_key_value_groups = 1
        is_causal = True

    expected, _ = sdpa_attention_forward(Module(), query, key, value, mask, scaling=0.5)
    runtime = ModelRuntime()
    logger = "claimcourt.models.hf.decode.attention"
    with caplog.at_level("WARNING", logger=logger), hf_attention.decode_step(None, runtime):
        for _ in range(2):
            out, _ = hf_attention.kernel_decode_attention(Module(), query, key, value, mask, scaling=0.5)
            torch.testing.assert_close(out, expected)
    assert calls == [1] and runtime.kernel_failure == "PTX compilation failed"
    assert runtime.ran[ATTENTION_SDPA] == 2 and not runtime.ran[ATTENTION_KERNEL]
    assert "PTX compilation failed" in caplog.text


@pytest.mark.parametrize("model_name", ["phi3", "mistral"])
def test_a_prefill_in_slices_gives_the_tokens_and_first_logits_of_one(tiny: TinyModels, model_name: str) -> None:
    """Rows prefilled a few at a time into caches of their own, then joined, decode exactly as rows
    prefilled together and as each row alone: the same first-token logits, row for row in the caller's
    order, and the same tokens."""
    from claimcourt.models.hf.decode.loop import decode_greedy
    from claimcourt.models.hf.decode.prefill import prefill_slices

    path = str(getattr(tiny, model_name))
    loaded = ModelRegistry(settings_for(tiny, debater_model=path)).get(path)
    rows = prompt_rows(loaded, equal=False) * 2
    width = max(len(r) for r in rows)
    assert len(prefill_slices(len(rows), width, 2 * width)) == 3  # the sliced run really has several slices
    stops = hf_engine.stop_token_ids(loaded)

    def decode(model: Any, rows: list[list[int]], tokens: int | None) -> tuple[list[list[int]], Any]:
        firsts: list[Any] = []

        def keep(logits: Any) -> Any:
            firsts.append(logits.clone())
            return logits.argmax(dim=-1)

        plan = DecodePlan(prefill_tokens=tokens)
        generated = decode_greedy(model, loaded, rows, max_new_tokens=16, stop_ids=stops, choose_first=keep, plan=plan)
        return generated, firsts[0]

    with loaded.role(None) as model:
        alone = [decode(model, [row], None) for row in rows]
        out = {tokens: decode(model, rows, tokens) for tokens in (None, 2 * width, 1)}
    whole, whole_logits = out[None]
    assert sum(len(t) > 3 for t in whole) >= 3
    assert whole == [tokens[0] for tokens, _ in alone]
    for i, (_, logits) in enumerate(alone):
        assert float((whole_logits[i] - logits[0]).abs().max()) < 1e-4
    for tokens in (2 * width, 1):
        generated, logits = out[tokens]
        assert generated == whole
        assert logits.shape == whole_logits.shape
        assert float((logits - whole_logits).abs().max()) < 1e-4


def test_prefill_slices_cover_every_row_once_in_order() -> None:
    from claimcourt.models.hf.decode.prefill import prefill_slices

    assert prefill_slices(9, 100, None) == prefill_slices(9, 100, 0) == [slice(0, 9)]
    for rows, width, tokens in [(1, 900, 100), (7, 10, 30), (256, 1000, 16384), (5, 4, 10**6)]:
        parts = prefill_slices(rows, width, tokens)
        assert [i for part in parts for i in range(rows)[part]] == list(range(rows))
        assert all((part.stop - part.start) * width <= max(tokens, width) for part in parts)
        sizes = [part.stop - part.start for part in parts]
        assert max(sizes) - min(sizes) <= 1  # about equal slices, no straggler


class _FakeGraph:
    """torch.cuda.CUDAGraph's capture calls, recorded (CPU tests have no CUDA); `fail` makes the next
    step run inside a capture run out of memory."""

    pools: ClassVar[list[int]] = []
    fail: ClassVar[list[bool]] = []
    capturing = False

    def capture_begin(self, pool: int, capture_error_mode: str) -> None:
        self.pools.append(pool)
        _FakeGraph.capturing = True

    def capture_end(self) -> None:
        _FakeGraph.capturing = False


def _fake_cuda_graphs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    import contextlib
    import itertools

    import torch

    class Stream:
        def wait_stream(self, other: Any) -> None:
            pass

    handles = itertools.count(1)
    monkeypatch.setattr(_FakeGraph, "pools", [])
    monkeypatch.setattr(torch.cuda, "CUDAGraph", _FakeGraph)
    monkeypatch.setattr(torch.cuda, "Stream", Stream)
    monkeypatch.setattr(torch.cuda, "current_stream", Stream)
    monkeypatch.setattr(torch.cuda, "stream", lambda s: contextlib.nullcontext())
    monkeypatch.setattr(torch.cuda, "graph_pool_handle", lambda: next(handles))
    return _FakeGraph.pools


def test_a_capture_that_fails_before_any_graph_holds_the_pool_leaves_the_next_a_fresh_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Out of memory inside a model's first capture leaves its pool with no graph; PyTorch's allocator
    then asserts on that handle at every later capture (seen on an H100: every later pass decoded
    eagerly). The next capture takes a new pool; once a graph holds the pool, a failed capture keeps it."""
    import torch

    from claimcourt.models.hf.decode import loop as hf_decode

    pools = _fake_cuda_graphs(monkeypatch)
    fail = {"next": True}

    def step() -> None:
        if _FakeGraph.capturing and fail["next"]:
            fail["next"] = False
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")

    runtime = ModelRuntime()
    with pytest.raises(torch.OutOfMemoryError):
        hf_decode.capture_step(step, runtime)
    assert isinstance(hf_decode.capture_step(step, runtime), _FakeGraph)  # captured, into a pool of its own
    fail["next"] = True  # fails again, now with that graph holding the pool
    with pytest.raises(torch.OutOfMemoryError):
        hf_decode.capture_step(step, runtime)
    hf_decode.capture_step(step, runtime)
    assert len(pools) == 4
    assert pools[0] != pools[1], pools
    assert pools[1] == pools[2] == pools[3], pools
