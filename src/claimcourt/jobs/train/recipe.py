"""The Judge adapter's recipe, resolved for this machine before anything loads or is written.

'auto' becomes what the machine can do: on a CUDA GPU with bitsandbytes, the seed's QLoRA (4-bit NF4
with double quantisation, bf16 compute, a paged 8-bit AdamW); elsewhere full-precision LoRA with
AdamW in float32, so the same command trains (slowly) on a CPU. An option that only a GPU can honour,
asked for on a machine without one, is refused here with one line.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from claimcourt.config import HFSettings, TrainSettings
from claimcourt.errors import ConfigError
from claimcourt.extras import missing
from claimcourt.models.hf.loading import resolve


@dataclass(frozen=True)
class Machine:
    cuda: bool
    bitsandbytes: bool

    @classmethod
    def here(cls) -> Machine:
        import torch

        return cls(torch.cuda.is_available(), importlib.util.find_spec("bitsandbytes") is not None)


@dataclass(frozen=True)
class Recipe:
    base_model: str
    quantization: str  # nf4 | fp4 | none
    compute_dtype: str  # bfloat16 | float16 | float32
    optim: str
    gradient_checkpointing: bool
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    target_modules: list[str]
    epochs: float
    max_steps: int | None
    batch_size: int
    grad_accum: int
    learning_rate: float
    lr_scheduler: str
    warmup_steps: int
    claim_max_tokens: int
    gold_weight: float
    held_out: float
    seed: int
    save_steps: int
    logging_steps: int
    eval_batch_size: int
    device: str  # cuda | cpu

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def hf_settings(self, hf: HFSettings) -> HFSettings:
        """The hf settings the adapter is trained for and evaluated with: this base model without an
        adapter, the Judge's prompt budgets, this recipe's precision."""
        return hf.model_copy(
            update={
                "judge_model": self.base_model,
                "judge_adapter": None,
                "claim_max_tokens": self.claim_max_tokens,
                "quantization": self.quantization,
                "compute_dtype": self.compute_dtype,
            }
        )


_GPU_ONLY = "needs a CUDA GPU, and this machine has none"


def resolve_recipe(train: TrainSettings, hf: HFSettings, machine: Machine) -> Recipe:
    base = train.base_model or hf.judge_model
    if base.startswith((".", "/", "~")) and not Path(base).expanduser().exists():
        raise ConfigError(f"train.base_model: '{base}' does not exist")
    quantization = train.quantization
    if quantization == "auto":
        quantization = "nf4" if machine.cuda and machine.bitsandbytes else "none"
    elif quantization != "none" and not machine.cuda:
        raise ConfigError(f"train.quantization = '{quantization}' {_GPU_ONLY}; use 'auto' or 'none'")
    elif quantization != "none" and not machine.bitsandbytes:
        raise missing("gpu", f"train.quantization = '{quantization}'", "bitsandbytes")
    dtype = train.compute_dtype
    if dtype == "auto":
        dtype = "bfloat16" if machine.cuda else "float32"
    elif dtype != "float32" and not machine.cuda:
        raise ConfigError(f"train.compute_dtype = '{dtype}' {_GPU_ONLY}; use 'auto' or 'float32'")
    optim = train.optim
    if optim == "auto":
        optim = "paged_adamw_8bit" if machine.cuda and machine.bitsandbytes else "adamw_torch"
    elif ("paged" in optim or "8bit" in optim) and not machine.cuda:
        raise ConfigError(f"train.optim = '{optim}' {_GPU_ONLY}; use 'auto' or 'adamw_torch'")
    return Recipe(
        base_model=resolve(base),
        quantization=quantization,
        compute_dtype=dtype,
        optim=optim,
        gradient_checkpointing=train.gradient_checkpointing,
        lora_r=train.lora_r,
        lora_alpha=train.lora_alpha,
        lora_dropout=train.lora_dropout,
        target_modules=list(train.target_modules),
        epochs=train.epochs,
        max_steps=train.max_steps,
        batch_size=train.batch_size,
        grad_accum=train.grad_accum,
        learning_rate=train.learning_rate,
        lr_scheduler=train.lr_scheduler,
        warmup_steps=train.warmup_steps,
        claim_max_tokens=train.claim_max_tokens or hf.claim_max_tokens,
        gold_weight=train.gold_weight,
        held_out=train.held_out,
        seed=train.seed,
        save_steps=train.save_steps,
        logging_steps=train.logging_steps,
        eval_batch_size=train.eval_batch_size,
        device="cuda" if machine.cuda else "cpu",
    )
