"""The hf profile on a CUDA GPU with bitsandbytes: 4-bit NF4 loading, the adapter on the Judge only,
the logit verdict, and the out-of-memory fallback on a real CUDA out-of-memory error.
Skipped cleanly where there is no GPU (CI)."""

from __future__ import annotations

import asyncio
import importlib.util
from typing import Any

import pytest

from claimcourt.config import HFSettings
from claimcourt.models.hf import engine as hf_engine
from claimcourt.models.hf.backend import HFBackend
from claimcourt.models.hf.decode import shared_prefix as hf_shared_prefix
from claimcourt.state import Argument, ClaimState, Neighbour, Verdict
from tests.hf_tiny import TinyModels, build_tiny_models

pytestmark = pytest.mark.gpu


def _cuda() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return bool(torch.cuda.is_available())


if not _cuda() or importlib.util.find_spec("bitsandbytes") is None:
    pytest.skip("needs a CUDA GPU and bitsandbytes", allow_module_level=True)

NEIGHBOURS = [
    Neighbour(id="US-1", text="A wind turbine blade with a carbon fibre spar.", label=1, similarity=0.8),
    Neighbour(id="US-2", text="A shoe comprising a sole and an upper.", label=0, similarity=0.4),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    # 4-bit blocks want dimensions of a few multiples of 64.
    return build_tiny_models(tmp_path_factory.mktemp("tiny-gpu"), hidden=256, layers=2)


def gpu_settings(tiny: TinyModels, **overrides: Any) -> HFSettings:
    values: dict[str, Any] = {
        "debater_model": str(tiny.mistral),  # shares the Judge's base model: the adapter must stay off
        "judge_model": str(tiny.mistral),
        "judge_adapter": str(tiny.adapter),
        "quantization": "nf4",
        "compute_dtype": "bfloat16",
        "claim_max_tokens": 64,
        "neighbour_max_tokens": 24,
        "debater_max_new_tokens": 8,
        "judge_rationale_tokens": 6,
        "max_batch_size": 16,
    }
    values.update(overrides)
    return HFSettings(**values)


def claims(n: int) -> list[ClaimState]:
    text = "A method for producing hydrogen by electrolysis of water using electricity from solar panels."
    return [ClaimState(claim_id=f"c{i}", text=text * (1 + i % 3), neighbours=NEIGHBOURS) for i in range(n)]


async def _argue(backend: HFBackend, states: list[ClaimState]) -> list[Argument]:
    return list(await asyncio.gather(*[backend.argue(r, s) for s in states for r in ("advocate", "skeptic")]))


async def _judge(backend: HFBackend, states: list[ClaimState]) -> list[Verdict]:
    return list(await asyncio.gather(*[backend.judge(s) for s in states]))


def with_arguments(states: list[ClaimState], arguments: list[Argument]) -> list[ClaimState]:
    return [
        s.model_copy(update={"advocate": arguments[2 * i], "skeptic": arguments[2 * i + 1]})
        for i, s in enumerate(states)
    ]


def test_hf_gpu_loads_nf4_once_and_runs_the_adapter_on_the_judge_only(tiny: TinyModels) -> None:
    import bitsandbytes as bnb
    import torch

    backend = HFBackend(gpu_settings(tiny))
    backend.load()
    assert backend.registry.loads == 1
    (loaded,) = backend.registry.loaded()
    four_bit = [m for m in loaded.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert four_bit
    state = four_bit[0].weight.quant_state
    assert state.quant_type == "nf4" and state.nested  # NF4 with double quantisation
    assert four_bit[0].compute_dtype == torch.bfloat16
    assert loaded.device.type == "cuda"

    lora_calls: list[str] = []
    for name, module in loaded.model.named_modules():
        if name.endswith("lora_A.judge"):
            module.register_forward_hook(lambda *_a, name=name: lora_calls.append(name))
    states = claims(4)
    arguments = asyncio.run(_argue(backend, states))
    assert len(arguments) == 8 and lora_calls == []
    verdicts = asyncio.run(_judge(backend, with_arguments(states, arguments)))
    assert lora_calls and all(v.readable and v.method == "logits" for v in verdicts)


def test_hf_gpu_p_green_is_read_from_the_adapter_logits(tiny: TinyModels) -> None:
    import torch

    backend = HFBackend(gpu_settings(tiny))
    states = claims(3)
    verdicts = asyncio.run(_judge(backend, with_arguments(states, asyncio.run(_argue(backend, states)))))
    (loaded,) = backend.registry.loaded()
    tokenizer = loaded.tokenizer
    stem = tokenizer("### Answer:", add_special_tokens=False).input_ids
    yes = tokenizer("### Answer: YES", add_special_tokens=False).input_ids[len(stem)]
    no = tokenizer("### Answer: NO", add_special_tokens=False).input_ids[len(stem)]
    for verdict in verdicts:
        assert verdict.prompt is not None and verdict.p_green is not None
        ids = tokenizer(verdict.prompt, return_tensors="pt").input_ids.to(loaded.device)
        with torch.no_grad():
            loaded.model.set_adapter("judge")
            logits = loaded.model(input_ids=ids).logits[0, -1].float()
            with loaded.model.disable_adapter():
                base = loaded.model(input_ids=ids).logits[0, -1].float()
        probs = torch.softmax(logits, dim=-1)
        manual = float(probs[yes] / (probs[yes] + probs[no]))
        assert verdict.p_green == pytest.approx(manual, abs=0.02)
        assert verdict.confidence == pytest.approx(max(verdict.p_green, 1 - verdict.p_green))
        assert not torch.allclose(logits, base)  # the adapter changes what the Judge says


def test_hf_gpu_memory_budget_is_a_hard_cap(tiny: TinyModels) -> None:
    import torch

    budget_gib = 2
    backend = HFBackend(gpu_settings(tiny, gpu_memory=f"{budget_gib}GiB", max_batch_size=64))
    import gc

    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    states = claims(8)
    asyncio.run(_judge(backend, with_arguments(states, asyncio.run(_argue(backend, states)))))
    assert torch.cuda.max_memory_reserved() <= budget_gib * 1024**3
    HFBackend(gpu_settings(tiny))._prepare_device()  # back to the whole card for later tests


def test_hf_gpu_real_out_of_memory_halves_the_batch(tiny: TinyModels, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each row of a pass also takes 45% of the free GPU memory, so three rows or more run out of memory
    for real in the CUDA allocator; the batch halves until it fits and no claim is lost."""
    import torch

    backend = HFBackend(gpu_settings(tiny))
    backend.load()
    free, _total = torch.cuda.mem_get_info()
    per_row = int(free * 0.45)
    real_generate = hf_engine.generate_texts
    attempted: list[int] = []

    real_shared = hf_shared_prefix.decode_shared

    def generate_with_ballast(model: Any, loaded: Any, rows: list[list[int]], **kwargs: Any) -> Any:
        attempted.append(len(rows))
        ballast = torch.empty(per_row * len(rows), dtype=torch.uint8, device="cuda")
        del ballast
        return real_generate(model, loaded, rows, **kwargs)

    def shared_with_ballast(model: Any, loaded: Any, groups: list[list[list[int]]], **kwargs: Any) -> Any:
        # A claim's two roles decode as one group of two rows over their shared prefix (on by default).
        rows = sum(len(g) for g in groups)
        attempted.append(rows)
        ballast = torch.empty(per_row * rows, dtype=torch.uint8, device="cuda")
        del ballast
        return real_shared(model, loaded, groups, **kwargs)

    monkeypatch.setattr(hf_engine, "generate_texts", generate_with_ballast)
    monkeypatch.setattr(hf_shared_prefix, "decode_shared", shared_with_ballast)
    arguments = asyncio.run(_argue(backend, claims(6)))

    assert len(arguments) == 12 and all(isinstance(a, Argument) for a in arguments)
    stats = backend.stats["debater"]
    assert stats.oom_retries >= 1 and max(stats.sizes) <= 2 and sum(stats.sizes) == 12
    assert attempted[0] == 12
