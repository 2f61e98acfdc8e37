"""`train judge` with the tiny real models on CPU: the adapter it writes loads through the hf profile's
own loading path and moves P(YES) towards the labels; a stopped run resumes at its step; the training
prompt is the Judge's inference prompt, byte for byte."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from safetensors.torch import load_file

from claimcourt.config import HFSettings, Settings, TrainSettings
from claimcourt.jobs.train.card import CARD_JSON
from claimcourt.jobs.train.data import TrainingRow, read_training_table
from claimcourt.jobs.train.examples import build_examples, render_prompts
from claimcourt.jobs.train.judge import JudgeOutcome, train_judge
from claimcourt.jobs.train.progress import StepReport, Stopper
from claimcourt.models.hf.backend import HFBackend
from claimcourt.state import ClaimState
from tests.hf_tiny import TinyModels, build_tiny_models
from tests.train_support import FAST, GREEN, NOT_GREEN, training_csv


class Recorder:
    def __init__(self) -> None:
        self.started_at: list[tuple[int, int]] = []
        self.steps: list[StepReport] = []

    def phase(self, text: str) -> None:
        pass

    def started(self, step: int, total: int) -> None:
        self.started_at.append((step, total))

    def stepped(self, report: StepReport) -> None:
        self.steps.append(report)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModels:
    return build_tiny_models(tmp_path_factory.mktemp("tiny-train"))


def settings_for(tiny: TinyModels, **train: Any) -> Settings:
    hf = HFSettings(
        judge_model=str(tiny.mistral),
        judge_adapter=None,
        quantization="none",
        compute_dtype="float32",
        claim_max_tokens=48,
    )
    return Settings(hf=hf, train=TrainSettings(**{**FAST, **train}))


@pytest.fixture(scope="module")
def trained(tiny: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> tuple[JudgeOutcome, Recorder]:
    root = tmp_path_factory.mktemp("trained")
    recorder = Recorder()
    outcome = train_judge(settings_for(tiny), training_csv(root / "train.csv"), root / "adapter", progress=recorder)
    return outcome, recorder


def judge_p_green(tiny: TinyModels, adapter: Path | None, texts: list[str]) -> list[float]:
    """p_green of each claim as the hf profile's Judge reads it (its loader, its prompt, its pass)."""
    settings = HFSettings(
        judge_model=str(tiny.mistral),
        judge_adapter=str(adapter) if adapter else None,
        quantization="none",
        compute_dtype="float32",
        claim_max_tokens=48,
        judge_rationale_tokens=0,
    )
    backend = HFBackend(settings)

    async def judge_all() -> list[float]:
        verdicts = await asyncio.gather(
            *(backend.judge(ClaimState(claim_id=f"q{i}", text=t)) for i, t in enumerate(texts))
        )
        return [v.p_green for v in verdicts if v.p_green is not None]

    return asyncio.run(judge_all())


def separation(p: list[float]) -> float:
    """Mean p_green of the green claims minus that of the others (GREEN first, then NOT_GREEN)."""
    half = len(GREEN)
    return sum(p[:half]) / half - sum(p[half:]) / (len(p) - half)


def test_adapter_loads_by_path_and_moves_p_yes_towards_the_labels(
    tiny: TinyModels, trained: tuple[JudgeOutcome, Recorder]
) -> None:
    outcome, recorder = trained
    assert outcome.finished and outcome.step == outcome.total == 20
    assert (outcome.out / "adapter_config.json").is_file() and (outcome.out / "adapter_model.safetensors").is_file()
    texts = [t + " Variant 1." for t in GREEN + NOT_GREEN]  # claims of the training table's kind
    base = judge_p_green(tiny, None, texts)
    tuned = judge_p_green(tiny, outcome.out, texts)
    assert len(base) == len(tuned) == len(texts)
    # The base model does not tell the groups apart; the adapter must, by a clear margin (a random
    # init leaves |separation| near 0.1 at most on this table).
    assert separation(tuned) > separation(base) + 0.2, (base, tuned)
    losses = [s.loss for s in recorder.steps if s.loss is not None]
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5, losses


def test_card_records_data_recipe_and_both_evaluations(trained: tuple[JudgeOutcome, Recorder]) -> None:
    outcome, _ = trained
    card = json.loads((outcome.out / CARD_JSON).read_text())
    counts = card["data"]["counts"]
    assert counts["train"]["claims"] + counts["held_out"]["claims"] == 24
    assert counts["train"]["human"] + counts["held_out"]["human"] == 5  # every fifth row
    assert card["recipe"]["gold_weight"] == 5.0 and card["recipe"]["quantization"] == "none"
    assert set(card["evaluation"]) == {"adapter", "base"}
    held_out = counts["held_out"]["claims"]
    for side in ("adapter", "base"):
        numbers = card["evaluation"][side]
        assert numbers["n"] == held_out
        assert {"accuracy", "f1", "kappa", "ece", "coverage"} <= set(numbers)
    assert card["evaluation"]["adapter"]["brier"] < card["evaluation"]["base"]["brier"]
    assert "## Evaluation" in (outcome.out / "README.md").read_text()
    assert not outcome.out.with_name("adapter.training").exists()  # checkpoints go once the adapter is written


class CtrlCAt(Recorder):
    """Presses Ctrl-C (a real SIGINT to this process) when the run reports step `at`."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.at = at

    def stepped(self, report: StepReport) -> None:
        super().stepped(report)
        if report.step == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_checkpoints_and_a_rerun_resumes_at_that_step(tiny: TinyModels, tmp_path: Path) -> None:
    table = training_csv(tmp_path / "train.csv")
    settings = settings_for(tiny, save_steps=100, max_steps=6)
    stopper = Stopper()
    before = signal.getsignal(signal.SIGINT)
    first = train_judge(settings, table, tmp_path / "adapter", progress=CtrlCAt(3), stopper=stopper)
    assert stopper.interrupted and first.stop_reason == "stopped by Ctrl-C"
    assert not first.finished and first.step == 3 and first.checkpoint is not None
    assert first.checkpoint.name == "checkpoint-3" and not (tmp_path / "adapter").exists()
    assert signal.getsignal(signal.SIGINT) is before  # the handler stepped aside
    recorder = Recorder()
    second = train_judge(settings, table, tmp_path / "adapter", progress=recorder)
    assert recorder.started_at == [(3, 6)]
    assert [s.step for s in recorder.steps] == [4, 5, 6]
    assert second.finished and second.card["training"]["resumed_from_step"] == 3
    # The resumed run is the run that was never stopped: the same weights (the same float32 operations
    # in the same order: 1e-6 leaves room only for a different summation order, none for a lost step).
    whole = train_judge(settings, table, tmp_path / "whole")
    resumed_weights = load_file(second.out / "adapter_model.safetensors")
    whole_weights = load_file(whole.out / "adapter_model.safetensors")
    assert resumed_weights.keys() == whole_weights.keys()
    for name, value in whole_weights.items():
        assert float((value - resumed_weights[name]).abs().max()) <= 1e-6, name


def test_training_prompt_is_the_judges_inference_prompt(tiny: TinyModels) -> None:
    hf = settings_for(tiny).hf
    backend = HFBackend(hf)
    loaded = backend.registry.get(hf.judge_model)
    claim = GREEN[0] + " " + NOT_GREEN[1] * 4  # long enough to be cut at claim_max_tokens
    row = TrainingRow("c1", claim, 1, False)
    trained = render_prompts(hf, loaded.tokenizer, [row])[0]
    inferred = backend.prompts.render_judge(loaded, [ClaimState(claim_id="c1", text=claim)])[0]
    assert trained.text == inferred.text and trained.ids == inferred.ids
    assert trained.claim_truncated


def test_human_labels_weigh_gold_weight_and_a_table_without_sources_is_silver(tiny: TinyModels, tmp_path: Path) -> None:
    settings = settings_for(tiny)
    loaded = HFBackend(settings.hf).registry.get(str(tiny.mistral))
    data = read_training_table(training_csv(tmp_path / "t.csv"), held_out=0.0, seed=0)
    examples = build_examples(settings.hf, loaded.tokenizer, data.train, gold_weight=5.0)
    assert [e.weight for e in examples] == [5.0 if i % 5 == 0 else 1.0 for i in range(24)]
    plain = tmp_path / "plain.csv"
    plain.write_text("id,text,label\na,A solar panel.,1\nb,A shoe.,0\n")
    assert not any(r.human for r in read_training_table(plain, held_out=0.0, seed=0).train)
