"""`train judge` on a CUDA GPU with bitsandbytes: the seed's QLoRA ('auto' resolves to 4-bit NF4, bf16,
a paged 8-bit AdamW), an adapter the hf profile loads onto its 4-bit Judge; and the Mistral-7B shape
at 512 tokens, batch 4 x 4, within the seed card's 22 GiB. Skipped where there is no GPU (CI).

Run on an H100 80GB (nvidia-h100-x1) on 2026-12-08: passed."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path

import pytest

from claimcourt.config import HFSettings, Settings, TrainSettings
from claimcourt.jobs.train.judge import train_judge
from claimcourt.models.hf.backend import HFBackend
from claimcourt.state import ClaimState
from tests.hf_tiny import TinyModels, build_tiny_models
from tests.train_support import FAST, GREEN, training_csv

pytestmark = pytest.mark.gpu


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
    # 4-bit blocks want dimensions of a few multiples of 64.
    return build_tiny_models(tmp_path_factory.mktemp("tiny-train-gpu"), hidden=256, layers=2)


def test_qlora_adapter_loads_onto_the_4bit_judge(tiny: TinyModels, tmp_path: Path) -> None:
    hf = HFSettings(judge_model=str(tiny.mistral), judge_adapter=None, claim_max_tokens=48)
    fast = {k: v for k, v in FAST.items() if k != "learning_rate"}
    settings = Settings(hf=hf, train=TrainSettings(**fast, learning_rate=1e-2))
    outcome = train_judge(settings, training_csv(tmp_path / "t.csv"), tmp_path / "adapter")
    recipe = outcome.card["recipe"]
    assert (recipe["quantization"], recipe["compute_dtype"], recipe["optim"]) == ("nf4", "bfloat16", "paged_adamw_8bit")
    assert outcome.finished and outcome.card["training"]["peak_gpu_memory_gib"] is not None
    backend = HFBackend(hf.model_copy(update={"judge_adapter": str(outcome.out), "judge_rationale_tokens": 0}))
    verdict = asyncio.run(backend.judge(ClaimState(claim_id="c", text=GREEN[0])))
    assert verdict.p_green is not None and 0.0 <= verdict.p_green <= 1.0


@pytest.mark.slow
def test_the_seed_recipe_on_the_mistral_7b_shape_fits_22_gib(tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    try:
        from train_judge import BUDGET_GIB, measure
    finally:
        sys.path.pop(0)
    figures = measure(tmp_path, claims=64, steps=3)
    print(figures)  # the throughput figures, for the run's log
    assert figures["recipe"]["quantization"] == "nf4" and figures["steps"] == 3
    assert figures["peak_gpu_memory_gib"] <= BUDGET_GIB, figures
