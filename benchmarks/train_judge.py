"""QLoRA training throughput and peak memory of `claimcourt train judge` at the seed's recipe, on the
Mistral-7B shape (random weights cost what trained ones do; saved in bf16, 4-bit NF4 at load through
the hf profile's loader), with claims cut at 512 tokens, batch 4 x 4 accumulation.

Prints tokens/s and seconds per 1,000 claims over the steps after the first (the first pays for
allocation and the paged optimiser's start), the peak GPU memory of training (the model is built and
saved before the counter is reset), and how long 40,000 claims would take at that rate.

    python benchmarks/train_judge.py [--claims 256] [--steps 8] [--work /tmp/train-bench]
    python benchmarks/train_judge.py --tiny --steps 3     # CPU smoke run with a tiny model

Measured once on an H100 80GB: benchmarks/results/train_judge_h100.json (README, Training).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

# Run as a script: benchmarks/ is on the path. It also sets the CUDA allocator before torch loads.
from hf_throughput import DEFAULT_DATA, MISTRAL_7B, TINY, build_tokenizer

SEED_CLAIMS = 40_000
BUDGET_GIB = 22.0


class Steps:
    """Records the step reports (train judge's progress interface)."""

    def __init__(self) -> None:
        self.reports: list[Any] = []

    def phase(self, text: str) -> None:
        print(f"  {text}", flush=True)

    def started(self, step: int, total: int) -> None:
        print(f"  training {total} steps", flush=True)

    def stepped(self, report: Any) -> None:
        self.reports.append(report)


def build_mistral(work: Path, texts: list[str], *, tiny: bool) -> Path:
    """The Mistral-7B-shaped model (or a tiny one) with random weights, in bf16 on a GPU."""
    import torch
    from transformers import MistralConfig, MistralForCausalLM

    path = work / ("mistral-tiny" if tiny else "mistral-7b")
    if (path / "config.json").exists():
        return path
    tokenizer = build_tokenizer(texts, work / "tokenizer", 32000)
    special = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    config = MistralConfig(
        **{**MISTRAL_7B, **(TINY if tiny else {}), **special, "pad_token_id": tokenizer.pad_token_id}
    )
    if tiny:
        config.head_dim = config.hidden_size // config.num_attention_heads
    cuda = torch.cuda.is_available()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16 if cuda else torch.float32)
    try:
        torch.manual_seed(0)
        with torch.device("cuda" if cuda else "cpu"):
            model = MistralForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model.save_pretrained(path, max_shard_size="4GB")
    tokenizer.save_pretrained(path)
    del model
    if cuda:
        torch.cuda.empty_cache()
    return path


def measure(work: Path, *, claims: int, steps: int, tiny: bool = False) -> dict[str, Any]:
    """Train `steps` steps of the seed's recipe; the figures."""
    import torch

    from claimcourt.config import HFSettings, Settings, TrainSettings
    from claimcourt.jobs.train.judge import train_judge

    work.mkdir(parents=True, exist_ok=True)
    with DEFAULT_DATA.open(encoding="utf-8", newline="") as fh:
        rows = [{"id": r["id"], "text": r["text"], "label": r["label"]} for r in csv.DictReader(fh)][:claims]
    base = build_mistral(work, [r["text"] for r in rows], tiny=tiny)
    table = work / "train.csv"
    with table.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    hf = HFSettings(judge_model=str(base), judge_adapter=None, claim_max_tokens=512)
    settings = Settings(hf=hf, train=TrainSettings(max_steps=steps, held_out=0.0, save_steps=10_000))
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    recorder = Steps()
    outcome = train_judge(settings, table, work / "adapter", overwrite=True, progress=recorder)
    first, last = recorder.reports[0], recorder.reports[-1]
    per_step = (last.elapsed_s - first.elapsed_s) / max(1, last.step - first.step)
    claims_per_step = settings.train.batch_size * settings.train.grad_accum
    s_per_1000 = per_step / claims_per_step * 1000
    return {
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
        "recipe": outcome.card["recipe"],
        "steps": outcome.step,
        "tokens_per_s": last.tokens_per_s,
        "s_per_step_after_first": per_step,
        "s_per_1000_claims": s_per_1000,
        "hours_for_40000_claims": s_per_1000 * SEED_CLAIMS / 1000 / 3600,
        "peak_gpu_memory_gib": outcome.card["training"]["peak_gpu_memory_gib"],
        "budget_gib": BUDGET_GIB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--work", type=Path, default=Path("/tmp/claimcourt-train-bench"))
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    figures = measure(args.work, claims=args.claims, steps=args.steps, tiny=args.tiny)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
