"""Loading local transformers models for the hf profile: once per distinct model, on first use.

- 4-bit NF4 (double quantisation, bf16 compute) through bitsandbytes, placed with `device_map`: a
  quantised model is never moved with `.to()`.
- Adapters are named (peft): the Judge's adapter is `judge`, a debater adapter is `debater`. When a
  role without an adapter shares its base model with one that has one, it runs under
  `disable_adapter()`: PEFT injects LoRA layers into the base model in place, so a "base" role would
  otherwise silently run with the Judge's adapter.
- One lock per loaded model: a batch owns the model (and its active adapter) while it runs.
- Nothing here imports torch or transformers at import time.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from claimcourt.config import HFSettings
from claimcourt.errors import BackendError, ConfigError
from claimcourt.extras import require
from claimcourt.models.hf.runtime import ModelRuntime

JUDGE_ADAPTER = "judge"
DEBATER_ADAPTER = "debater"

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2}
_UNITS |= {"g": 1000**3, "gb": 1000**3, "gib": 1024**3, "t": 1000**4, "tb": 1000**4, "tib": 1024**4}


def parse_memory(value: str) -> int:
    """'22GiB' -> bytes. Units: B, KB/KiB, MB/MiB, GB/GiB (a bare 'G' is decimal, like nvidia-smi's)."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", value)
    if not match or match.group(2).lower() not in _UNITS:
        raise ConfigError(f"gpu memory budget '{value}': expected a size such as 22GiB or 20000MB")
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size <= 0:
        raise ConfigError(f"gpu memory budget '{value}' must be positive")
    return size


def looks_like_path(model_id: str) -> bool:
    return model_id.startswith((".", "/", "~")) or Path(model_id).expanduser().exists()


def resolve(model_id: str) -> str:
    return str(Path(model_id).expanduser()) if looks_like_path(model_id) else model_id


@dataclass
class LoadedModel:
    """A model (possibly a PeftModel with named adapters), its tokenizer, and the lock a batch holds."""

    model_id: str
    model: Any
    tokenizer: Any
    adapters: dict[str, str] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    # What its decode path learnt while running, and which path each pass took.
    runtime: ModelRuntime = field(default_factory=ModelRuntime)

    @property
    def is_peft(self) -> bool:
        return bool(self.adapters)

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    @property
    def config(self) -> Any:
        base = self.model.get_base_model() if self.is_peft else self.model
        return base.config

    @contextmanager
    def role(self, adapter: str | None) -> Iterator[Any]:
        """Hold the model for one batch, with exactly `adapter` active (None: the bare base model)."""
        with self.lock:
            if adapter is not None:
                if adapter not in self.adapters:
                    raise BackendError(f"{self.model_id}: no adapter named '{adapter}' is loaded")
                self.model.set_adapter(adapter)
                yield self.model
            elif self.is_peft:
                with self.model.disable_adapter():
                    yield self.model
            else:
                yield self.model


def adapters_by_model(settings: HFSettings) -> dict[str, dict[str, str]]:
    """model id -> {adapter name: adapter id}: what to load on each distinct base model."""
    plan: dict[str, dict[str, str]] = {resolve(settings.debater_model): {}, resolve(settings.judge_model): {}}
    if settings.debater_adapter:
        plan[resolve(settings.debater_model)][DEBATER_ADAPTER] = resolve(settings.debater_adapter)
    if settings.judge_adapter:
        plan[resolve(settings.judge_model)][JUDGE_ADAPTER] = resolve(settings.judge_adapter)
    return plan


def _torch_dtype(name: str) -> Any:
    import torch

    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]


def quantization_config(settings: HFSettings) -> Any:
    """bitsandbytes settings for the configured quantisation, or None for full precision."""
    if settings.quantization == "none":
        return None
    from transformers import BitsAndBytesConfig

    if settings.quantization == "int8":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=settings.quantization,  # nf4 (default) or fp4
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=_torch_dtype(settings.compute_dtype),
    )


def check_settings(settings: HFSettings) -> None:
    """Cheap checks before a run (no model loads): local paths exist, quantisation can work here."""
    for what, model_id in (
        ("debater_model", settings.debater_model),
        ("judge_model", settings.judge_model),
        ("debater_adapter", settings.debater_adapter),
        ("judge_adapter", settings.judge_adapter),
    ):
        if model_id and model_id.startswith((".", "/", "~")) and not Path(model_id).expanduser().exists():
            raise ConfigError(f"hf.{what}: '{model_id}' does not exist")
    if settings.gpu_memory is not None:
        parse_memory(settings.gpu_memory)
    if settings.quantization != "none":
        import torch

        if not torch.cuda.is_available():
            raise BackendError(
                f"hf.quantization = '{settings.quantization}' needs a CUDA GPU; on a CPU set "
                "hf.quantization = 'none' (and hf.compute_dtype = 'float32')"
            )
        require("gpu", f"hf.quantization = '{settings.quantization}'")


class ModelRegistry:
    """Loads each distinct model once, with all the adapters configured for it, on first `get`."""

    def __init__(self, settings: HFSettings) -> None:
        self.settings = settings
        self._plan = adapters_by_model(settings)
        self._loaded: dict[str, LoadedModel] = {}
        self._lock = threading.Lock()
        self.loads = 0  # base models loaded by this registry (one per distinct model)

    def get(self, model_id: str) -> LoadedModel:
        key = resolve(model_id)
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = self._load(key, self._plan.get(key, {}))
                self.loads += 1
            return self._loaded[key]

    def loaded(self) -> list[LoadedModel]:
        return list(self._loaded.values())

    def _load(self, model_id: str, adapters: dict[str, str]) -> LoadedModel:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        s = self.settings
        quantized = s.quantization != "none"
        kwargs: dict[str, Any] = {
            "dtype": _torch_dtype(s.compute_dtype),
            "trust_remote_code": s.trust_remote_code,
            "attn_implementation": s.attn_implementation,
        }
        if quantized:
            kwargs["quantization_config"] = quantization_config(s)
        if torch.cuda.is_available():
            # device_map places every layer at load; quantised weights cannot be moved afterwards.
            kwargs["device_map"] = s.device_map
        try:
            tokenizer = AutoTokenizer.from_pretrained(model_id, trust_remote_code=s.trust_remote_code)
            model: Any = AutoModelForCausalLM.from_pretrained(model_id, **kwargs)
        except Exception as exc:
            raise BackendError(f"cannot load model '{model_id}': {exc}") from exc
        # Left padding: every row of a batch then generates from the same last position.
        tokenizer.padding_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        if adapters:
            from peft import PeftModel

            names = list(adapters)
            try:
                model = PeftModel.from_pretrained(model, adapters[names[0]], adapter_name=names[0])
                for name in names[1:]:
                    model.load_adapter(adapters[name], adapter_name=name)
            except Exception as exc:
                raise BackendError(f"cannot load adapter(s) {adapters} onto '{model_id}': {exc}") from exc
        model.eval()
        return LoadedModel(
            model_id=model_id,
            model=model,
            tokenizer=tokenizer,
            adapters=dict(adapters),
        )
