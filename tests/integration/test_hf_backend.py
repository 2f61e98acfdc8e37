"""HFBackend with tiny real models on CPU, driven directly (no graph): batching across claims, the
adapter only on the Judge, the out-of-memory fallback, and the one-at-a-time reference path."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from claimcourt.config import HFSettings
from claimcourt.models.hf import engine as hf_engine
from claimcourt.models.hf.backend import HFBackend
from claimcourt.models.hf.prompts import ArgueRequest
from claimcourt.state import Argument, ClaimState, Neighbour, Verdict
from tests.hf_tiny import TinyModels, build_tiny_models

NEIGHBOURS = [
    Neighbour(id="US-1", text="A wind turbine blade with a carbon fibre spar.", label=1, similarity=0.81),
    Neighbour(id="US-2", text="A shoe comprising a sole and an upper.", label=0, similarity=0.42),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return build_tiny_models(tmp_path_factory.mktemp("tiny-backend"))


def settings_for(tiny: TinyModels, **overrides: Any) -> HFSettings:
    values: dict[str, Any] = {
        "debater_model": str(tiny.phi3),
        "judge_model": str(tiny.mistral),
        "judge_adapter": str(tiny.adapter),
        "quantization": "none",
        "compute_dtype": "float32",
        "claim_max_tokens": 48,
        "neighbour_max_tokens": 16,
        "debater_max_new_tokens": 6,
        "judge_rationale_tokens": 4,
        "max_batch_size": 8,
    }
    values.update(overrides)
    return HFSettings(**values)


def claims(n: int) -> list[ClaimState]:
    texts = [
        "A method for producing hydrogen by electrolysis of water using electricity from solar panels.",
        "A semiconductor device comprising a substrate, a gate electrode and a dielectric layer.",
        "An apparatus for capturing carbon dioxide from flue gas with an amine solvent.",
        "A shoe comprising a sole, an upper and a lace.",
    ]
    return [
        ClaimState(claim_id=f"c{i}", text=texts[i % len(texts)] * (1 + i % 3), neighbours=NEIGHBOURS) for i in range(n)
    ]


async def debate_all(backend: HFBackend, states: list[ClaimState]) -> tuple[list[ClaimState], list[Verdict]]:
    arguments: list[Argument] = await asyncio.gather(
        *[backend.argue(role, s) for s in states for role in ("advocate", "skeptic")]
    )
    argued = [
        s.model_copy(update={"advocate": arguments[2 * i], "skeptic": arguments[2 * i + 1]})
        for i, s in enumerate(states)
    ]
    verdicts = await asyncio.gather(*[backend.judge(s) for s in argued])
    return argued, list(verdicts)


def test_hf_concurrent_claims_share_batches(tiny: TinyModels) -> None:
    backend = HFBackend(settings_for(tiny, max_batch_size=16))
    argued, verdicts = asyncio.run(debate_all(backend, claims(6)))

    # Advocate and Skeptic requests of all six claims went through one batched call.
    assert backend.stats["debater"].rows == 12 and backend.stats["debater"].chunks == 1
    assert backend.stats["judge"].rows == 6 and backend.stats["judge"].chunks == 1
    assert all(v.readable and v.method == "logits" for v in verdicts)
    assert {a.advocate.role for a in argued if a.advocate} == {"advocate"}


def test_hf_shared_base_model_loads_once_and_only_the_judge_runs_the_adapter(tiny: TinyModels) -> None:
    backend = HFBackend(settings_for(tiny, debater_model=str(tiny.mistral)))
    backend.load()
    assert backend.registry.loads == 1
    (loaded,) = backend.registry.loaded()
    lora_calls: list[str] = []
    for name, module in loaded.model.named_modules():
        if name.endswith("lora_A.judge"):
            module.register_forward_hook(lambda *_args, name=name: lora_calls.append(name))

    states = claims(3)
    arguments = asyncio.run(_argue(backend, states))
    assert len(arguments) == 6 and lora_calls == []  # debaters: the adapter never ran

    argued = [
        s.model_copy(update={"advocate": arguments[2 * i], "skeptic": arguments[2 * i + 1]})
        for i, s in enumerate(states)
    ]
    asyncio.run(_judge(backend, argued))
    assert lora_calls  # the Judge: it did


async def _judge(backend: HFBackend, states: list[ClaimState]) -> list[Verdict]:
    return list(await asyncio.gather(*[backend.judge(s) for s in states]))


async def _argue(backend: HFBackend, states: list[ClaimState]) -> list[Argument]:
    return list(await asyncio.gather(*[backend.argue(role, s) for s in states for role in ("advocate", "skeptic")]))


@pytest.mark.parametrize("shared_prefix", [False, True])
def test_hf_out_of_memory_halves_the_batch_and_keeps_every_claim(
    tiny: TinyModels, monkeypatch: pytest.MonkeyPatch, shared_prefix: bool
) -> None:
    import torch

    from claimcourt.models.hf.decode import shared_prefix as hf_shared_prefix

    # Rows one by one (generate_texts), or a claim's two rows over their shared prefix (decode_shared).
    module, name = (hf_shared_prefix, "decode_shared") if shared_prefix else (hf_engine, "generate_texts")
    real = getattr(module, name)
    per_item = 2 if shared_prefix else 1
    attempted: list[int] = []

    def run_with_small_memory(model: Any, loaded: Any, items: list[Any], **kwargs: Any) -> Any:
        attempted.append(len(items) * per_item)
        if len(items) * per_item > 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")
        return real(model, loaded, items, **kwargs)

    monkeypatch.setattr(module, name, run_with_small_memory)
    backend = HFBackend(settings_for(tiny, max_batch_size=16, shared_prefix=shared_prefix))
    reference = HFBackend(settings_for(tiny, max_batch_size=16, shared_prefix=False), registry=backend.registry)
    states = claims(7)

    argued, verdicts = asyncio.run(debate_all(backend, states))

    stats = backend.stats["debater"]
    # Halved until it fits, then kept at that size: rows 14, 7, 3, or claims 7, 3, 1 (two rows each).
    assert attempted[:3] == ([14, 6, 2] if shared_prefix else [14, 7, 3])
    assert stats.rows == 14 and max(stats.sizes) == (2 if shared_prefix else 3) and stats.oom_retries == 2
    assert all(a.advocate and a.skeptic for a in argued) and len(verdicts) == 7
    # The fallback changes how rows are grouped, not what each claim gets.
    monkeypatch.setattr(module, name, real)
    expected, _ = asyncio.run(debate_all(reference, states))
    assert [a.advocate.text for a in argued if a.advocate] == [e.advocate.text for e in expected if e.advocate]
    assert [a.skeptic.text for a in argued if a.skeptic] == [e.skeptic.text for e in expected if e.skeptic]


def test_hf_one_at_a_time_reference_gives_the_same_debate(tiny: TinyModels) -> None:
    """The langchain-huggingface path (ChatHuggingFace over a local pipeline, one claim at a time)
    and the batched path see the same prompts and say the same things."""
    from claimcourt.models.hf.reference import OneAtATime

    backend = HFBackend(settings_for(tiny))
    states = claims(3)
    argued, verdicts = asyncio.run(debate_all(backend, states))
    sequential = OneAtATime(backend)

    for state, batched, verdict in zip(states, argued, verdicts, strict=True):
        alone = sequential.debate(state)
        assert alone.advocate is not None and batched.advocate is not None
        assert alone.advocate.text == batched.advocate.text
        assert alone.skeptic is not None and batched.skeptic is not None
        assert alone.skeptic.text == batched.skeptic.text
        assert alone.verdict is not None
        assert alone.verdict.p_green == pytest.approx(verdict.p_green, abs=1e-5)
        assert alone.verdict.rationale == verdict.rationale


def test_hf_trust_remote_code_stays_off_unless_configured(tiny: TinyModels, monkeypatch: pytest.MonkeyPatch) -> None:
    from transformers import AutoModelForCausalLM

    seen: list[dict[str, Any]] = []
    real = AutoModelForCausalLM.from_pretrained

    def recording(path: str, **kwargs: Any) -> Any:
        seen.append(kwargs)
        return real(path, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", recording)
    HFBackend(settings_for(tiny)).load()
    HFBackend(settings_for(tiny, trust_remote_code=True)).load()
    assert [k["trust_remote_code"] for k in seen] == [False, False, True, True]
    assert all("quantization_config" not in k for k in seen)


def test_hf_nf4_quantisation_settings() -> None:
    import torch

    from claimcourt.models.hf.loading import quantization_config

    config = quantization_config(HFSettings())
    assert config.load_in_4bit and config.bnb_4bit_quant_type == "nf4"
    assert config.bnb_4bit_use_double_quant and config.bnb_4bit_compute_dtype == torch.bfloat16
    assert quantization_config(HFSettings(quantization="none")) is None


def test_hf_model_paths_are_checked_before_any_claim(tmp_path: Path, tiny: TinyModels) -> None:
    from claimcourt.errors import ConfigError

    backend = HFBackend(settings_for(tiny, judge_adapter=str(tmp_path / "missing-adapter")))
    with pytest.raises(ConfigError, match="judge_adapter"):
        backend.check_ready()
    assert backend.registry.loads == 0


def test_hf_judge_may_read_more_of_each_precedent_than_the_debaters(tiny: TinyModels) -> None:
    long_neighbour = Neighbour(
        id="US-9",
        text=" ".join(f"solar panel element {i} mounted on a frame" for i in range(40)),
        label=1,
        similarity=0.7,
    )
    state = ClaimState(claim_id="c", text="A photovoltaic roof tile.", neighbours=[long_neighbour])
    backend = HFBackend(settings_for(tiny, neighbour_max_tokens=12, judge_neighbour_max_tokens=60))
    debater_prompt = backend.prompts.render_argue(backend._debater_model(), [ArgueRequest("advocate", state)])[0].text
    judge_prompt = backend.prompts.render_judge(backend._judge_model(), [state])[0].text
    assert "US-9" in debater_prompt and "US-9" in judge_prompt
    assert "element 0 " in debater_prompt
    assert "element 1 " not in debater_prompt  # 12 tokens of the precedent for the debaters
    assert "element 2 " in judge_prompt  # 60 for the Judge


def test_hf_memory_to_spare_means_fewer_prefill_slices_and_the_same_debate(
    tiny: TinyModels, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Where a pass's rows leave memory free (here: the planner is told of plenty), its prefill runs in
    larger slices than hf.prefill_tokens: fewer of them, and every argument and verdict the same."""
    import logging
    import re

    states = claims(6)
    caplog.set_level(logging.INFO, logger="claimcourt")

    def debate_and_count_slices(backend: HFBackend) -> tuple[list[ClaimState], list[Verdict], int]:
        caplog.clear()
        argued, verdicts = asyncio.run(debate_all(backend, states))
        slices = [int(m) for m in re.findall(r"prefilled \d+ rows \d+ wide in (\d+) slices", caplog.text)]
        assert slices
        return argued, verdicts, sum(slices)

    tight = HFBackend(settings_for(tiny, max_batch_size=16, prefill_tokens=600))
    roomy = HFBackend(settings_for(tiny, max_batch_size=16, prefill_tokens=600), registry=tight.registry)
    monkeypatch.setattr(roomy.planner, "_free_bytes", lambda: 64 * 1024**3)

    expected, expected_verdicts, tight_slices = debate_and_count_slices(tight)
    argued, verdicts, roomy_slices = debate_and_count_slices(roomy)

    assert roomy_slices < tight_slices
    assert [(a.advocate, a.skeptic) for a in argued] == [(e.advocate, e.skeptic) for e in expected]
    for verdict, reference in zip(verdicts, expected_verdicts, strict=True):
        assert verdict.p_green == pytest.approx(reference.p_green, abs=1e-5)
        assert verdict.rationale == reference.rationale
