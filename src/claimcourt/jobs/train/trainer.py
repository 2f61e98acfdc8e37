"""The transformers + peft side of `train judge`: LoRA (QLoRA on a 4-bit model) on the base model and
a Trainer whose loss is the one the Judge is read by: cross-entropy of the answer token at the answer
position, each claim weighted (a human label `gold_weight` times a silver one).

Imports torch, transformers and peft at import time: import it only where training starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
from transformers import PrinterCallback, Trainer, TrainingArguments, set_seed

from claimcourt.jobs.train.examples import Collator, Example
from claimcourt.jobs.train.recipe import Recipe


class AnswerTrainer(Trainer):
    # compute_loss returns a mean over one micro-batch: the Trainer divides it by the accumulation steps.
    loss_is_scaled_for_ga = False

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], logits_to_keep=1)
        logits = outputs.logits[:, -1, :].float()
        losses = F.cross_entropy(logits, inputs["answer"], reduction="none")
        weight = inputs["weight"].to(losses.device)
        loss = (losses * weight).sum() / weight.sum()
        return (loss, outputs) if return_outputs else loss


def with_lora(model: Any, recipe: Recipe) -> Any:
    """The base model ready for training: prepared for k-bit training when quantised (norms in float32,
    input gradients, checkpointing), then LoRA on the recipe's modules, initialised from the recipe's seed."""
    set_seed(recipe.seed)
    if recipe.quantization != "none":
        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=recipe.gradient_checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    config = LoraConfig(
        r=recipe.lora_r,
        lora_alpha=recipe.lora_alpha,
        lora_dropout=recipe.lora_dropout,
        target_modules=list(recipe.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def _checkpointing(enabled: bool) -> dict[str, Any]:
    """Activation checkpointing under the name this transformers knows (5.x renamed it)."""
    known = TrainingArguments.__dataclass_fields__
    name = "activation_checkpointing" if "activation_checkpointing" in known else "gradient_checkpointing"
    return {name: enabled, f"{name}_kwargs": {"use_reentrant": False}}


def training_arguments(recipe: Recipe, work: Path) -> TrainingArguments:
    cuda = recipe.device == "cuda"
    return TrainingArguments(
        output_dir=str(work),
        per_device_train_batch_size=recipe.batch_size,
        gradient_accumulation_steps=recipe.grad_accum,
        num_train_epochs=recipe.epochs,
        max_steps=recipe.max_steps or -1,
        learning_rate=recipe.learning_rate,
        lr_scheduler_type=recipe.lr_scheduler,
        warmup_steps=recipe.warmup_steps,
        optim=recipe.optim,
        bf16=cuda and recipe.compute_dtype == "bfloat16",
        fp16=cuda and recipe.compute_dtype == "float16",
        **_checkpointing(recipe.gradient_checkpointing),
        logging_steps=recipe.logging_steps,
        save_strategy="steps",
        save_steps=recipe.save_steps,
        save_total_limit=2,
        seed=recipe.seed,
        data_seed=recipe.seed,
        use_cpu=not cuda,
        dataloader_pin_memory=cuda,
        remove_unused_columns=False,
        report_to="none",
        disable_tqdm=True,
    )


def make_trainer(
    model: Any, recipe: Recipe, work: Path, examples: list[Example], collator: Collator, callbacks: list[Any]
) -> AnswerTrainer:
    trainer = AnswerTrainer(
        model=model,
        args=training_arguments(recipe, work),
        train_dataset=examples,
        data_collator=collator,
        callbacks=callbacks,
    )
    # Without tqdm the Trainer prints every log dict to stdout; progress is the caller's to show.
    trainer.remove_callback(PrinterCallback)
    return trainer


def peak_memory_gib() -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None
