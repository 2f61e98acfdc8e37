"""`claimcourt train judge`: a LoRA (QLoRA on a GPU) adapter for the hf profile's Judge, trained on a
table of labelled claims in the Judge's own instruction format, evaluated on a held-out share with the
adapter on and off, written as a standard PEFT adapter folder with a card.

Every check (the table, the recipe against this machine, the output folder) runs before a model loads
or a file is written. A stopped run (Ctrl-C, or a step limit) leaves a checkpoint beside the output
folder; the same command resumes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimcourt.config import HFSettings, Settings
from claimcourt.jobs.train.card import write_card
from claimcourt.jobs.train.data import Columns, TrainingData, read_training_table
from claimcourt.jobs.train.evaluation import SHOWN, evaluate_adapter
from claimcourt.jobs.train.examples import Collator, build_examples
from claimcourt.jobs.train.folders import last_checkpoint, plan_folders
from claimcourt.jobs.train.progress import NoProgress, Stopper, TrainProgress, trainer_callback
from claimcourt.jobs.train.recipe import Machine, Recipe, resolve_recipe
from claimcourt.models.hf.loading import LoadedModel, ModelRegistry
from claimcourt.models.hf.prompts import label_token_ids

TRAINED_ADAPTER = "default"  # peft's name for the adapter get_peft_model adds (saved at the folder's root)


@dataclass(frozen=True)
class JudgeOutcome:
    out: Path
    finished: bool
    step: int
    total: int
    resumed_from: int | None  # the step a stopped run was resumed at
    checkpoint: Path | None  # where a stopped run can resume from
    stop_reason: str | None
    card: dict[str, Any] = field(default_factory=dict)


def _load_base(recipe: Recipe, settings: Settings) -> LoadedModel:
    """The base model through the hf profile's loader (its precision, tokenizer and padding), on one
    device: a quantised model is placed at load and cannot be moved after."""
    hf = recipe.hf_settings(settings.hf).model_copy(
        update={"device_map": "cuda:0" if recipe.device == "cuda" else "cpu"}
    )
    return ModelRegistry(hf).get(recipe.base_model)


def _step_of(checkpoint: Path | None) -> int | None:
    return int(checkpoint.name.removeprefix("checkpoint-")) if checkpoint is not None else None


def train_judge(
    settings: Settings,
    table: Path,
    out: Path,
    *,
    columns: Columns | None = None,
    overwrite: bool = False,
    progress: TrainProgress | None = None,
    stopper: Stopper | None = None,
    machine: Machine | None = None,
) -> JudgeOutcome:
    progress = progress or NoProgress()
    stopper = stopper or Stopper()
    recipe = resolve_recipe(settings.train, settings.hf, machine or Machine.here())
    data = read_training_table(table, held_out=recipe.held_out, seed=recipe.seed, columns=columns)
    job = {"kind": "judge", "recipe": recipe.as_dict(), "data": data.fingerprint}
    folders = plan_folders(out, job, overwrite=overwrite)

    progress.phase(f"loading {recipe.base_model}")
    from claimcourt.jobs.train import trainer as hf_trainer  # torch, transformers, peft: only once training starts

    loaded = _load_base(recipe, settings)
    hf = recipe.hf_settings(settings.hf)
    progress.phase(f"rendering {len(data.train) + len(data.held_out)} prompts")
    examples = build_examples(hf, loaded.tokenizer, data.train, gold_weight=recipe.gold_weight)
    model = hf_trainer.with_lora(loaded.model, recipe)
    folders.start(job, overwrite=overwrite)
    collator = Collator(loaded.tokenizer.pad_token_id)
    callback = trainer_callback(progress, stopper, lambda: collator.tokens)
    trainer = hf_trainer.make_trainer(model, recipe, folders.work, examples, collator, [callback])
    resumed = str(folders.resume_from) if folders.resume_from is not None else None
    started = time.monotonic()
    with stopper.on_ctrl_c():
        trainer.train(resume_from_checkpoint=resumed)
    state = trainer.state
    resumed_at = _step_of(folders.resume_from)
    if state.global_step < state.max_steps:
        checkpoint = last_checkpoint(folders.work)
        return JudgeOutcome(
            folders.out, False, state.global_step, state.max_steps, resumed_at, checkpoint, stopper.reason
        )
    training = {
        "steps": state.global_step,
        "resumed_from_step": resumed_at,
        "final_loss": next((h["loss"] for h in reversed(state.log_history) if "loss" in h), None),
        "seconds_this_run": round(time.monotonic() - started, 1),
        "prompt_tokens_this_run": collator.tokens,
        "peak_gpu_memory_gib": hf_trainer.peak_memory_gib(),
    }
    progress.phase(f"evaluating on {len(data.held_out)} held-out claims, adapter on and off")
    evaluation = _evaluate(model, loaded.tokenizer, hf, data, recipe, threshold=settings.threshold)
    folders.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(folders.out))
    card = judge_card(data, recipe, evaluation, training, prompt_example=loaded.tokenizer.decode(examples[0].ids))
    write_card(folders.out, card)
    folders.finish()
    return JudgeOutcome(folders.out, True, state.global_step, state.max_steps, resumed_at, None, None, card)


def _evaluate(
    model: Any, tokenizer: Any, hf: HFSettings, data: TrainingData, recipe: Recipe, *, threshold: float
) -> dict[str, Any]:
    """The held-out claims scored with the trained adapter on and off (`evaluation.evaluate_adapter`)."""
    held_out = build_examples(hf, tokenizer, data.held_out, gold_weight=1.0)
    model.eval()
    scored = LoadedModel(recipe.base_model, model, tokenizer, adapters={TRAINED_ADAPTER: "trained"})
    return evaluate_adapter(
        scored,
        TRAINED_ADAPTER,
        [e.ids for e in held_out],
        [e.label for e in held_out],
        label_token_ids(tokenizer),
        threshold=threshold,
        batch=recipe.eval_batch_size,
    )


def judge_card(
    data: TrainingData, recipe: Recipe, evaluation: dict[str, Any], training: dict[str, Any], *, prompt_example: str
) -> dict[str, Any]:
    kind = f"QLoRA, {recipe.quantization}" if recipe.quantization != "none" else "full-precision LoRA"
    return {
        "title": "claimcourt Judge adapter",
        "summary": (
            f"A LoRA adapter for `{recipe.base_model}` ({kind}), "
            "trained by `claimcourt train judge` to answer the Judge's instruction format with ` YES` (green, "
            "CPC Y02) or ` NO`; the hf profile reads P(YES) / (P(YES) + P(NO)) at the answer position."
        ),
        "kind": "judge_adapter",
        "base_model": recipe.base_model,
        "data": {
            "table": str(data.path),
            "fingerprint": data.fingerprint,
            "source_column": data.source_column,
            "counts": data.counts(),
        },
        "recipe": recipe.as_dict(),
        "evaluation": evaluation,
        "evaluation_order": [*SHOWN, "n", "threshold"],
        "training": training,
        "prompt_example": prompt_example,
        "usage": (
            "claimcourt: set `hf.judge_adapter` to this folder's path (and `hf.judge_model` to the base model). "
            "vLLM: `vllm serve BASE --enable-lora --lora-modules judge=THIS_FOLDER`, then "
            '`endpoint.judge_model = "judge"`.'
        ),
    }
