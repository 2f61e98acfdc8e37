# ruff: noqa: B023
"""Where a batched hf pass spends its time: prefill vs decode steps, dynamic vs static KV cache, by batch.

Builds (or reuses) the random-weight models of hf_throughput.py and times the engine's own calls:

    python benchmarks/hf_profile.py --work /dev/shm/bench --batches 1,32,128
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hf_throughput import DEFAULT_DATA, build_models, log, read_claims


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("/tmp/claimcourt-hf-bench"))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--batches", default="1,32,128")
    parser.add_argument("--prompt-tokens", type=int, default=900)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--trace", action="store_true", help="torch.profiler table of one decode run")
    parser.add_argument("--tiny", action="store_true", help="tiny models on CPU (checks the script only)")
    args = parser.parse_args()

    import torch

    from claimcourt.config import HFSettings
    from claimcourt.models import hf_engine
    from claimcourt.models.hf import label_token_ids
    from claimcourt.models.hf_loading import ModelRegistry

    claims = read_claims(args.data)
    paths = build_models(args.work / "models", [c["text"] for c in claims], tiny=args.tiny)
    settings = HFSettings(
        debater_model=str(paths["phi3"]),
        judge_model=str(paths["mistral"]),
        judge_adapter=str(paths["adapter"]),
        **({"quantization": "none", "compute_dtype": "float32"} if args.tiny else {}),
    )
    registry = ModelRegistry(settings)
    debater = registry.get(settings.debater_model)
    judge = registry.get(settings.judge_model)
    vocab = len(debater.tokenizer)
    gen = torch.Generator().manual_seed(0)

    def rows(b: int) -> list[list[int]]:
        return [torch.randint(10, vocab, (args.prompt_tokens - (i % 7),), generator=gen).tolist() for i in range(b)]

    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)

    def timed(fn) -> float:  # type: ignore[no-untyped-def]
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        return time.perf_counter() - t0

    for name, loaded, adapter in (("debater", debater, None), ("judge", judge, "judge")):
        for b in [int(x) for x in args.batches.split(",")]:
            batch = rows(b)
            with loaded.role(adapter) as model:
                timed(lambda: hf_engine.generate_texts(model, loaded, batch[:1], max_new_tokens=2))  # warm
                prefill = timed(lambda: hf_engine.label_logits(model, loaded, batch, label_token_ids(loaded.tokenizer)))
                report = [f"{name} b={b}: prefill {prefill * 1000:.0f} ms"]
                for cache in ("dynamic", "static"):
                    one = timed(
                        lambda: hf_engine.generate_texts(
                            model,
                            loaded,
                            batch,
                            max_new_tokens=1,
                            cache_implementation=cache,
                        )
                    )
                    many = timed(
                        lambda: hf_engine.generate_texts(
                            model,
                            loaded,
                            batch,
                            max_new_tokens=1 + args.steps,
                            cache_implementation=cache,
                        )
                    )
                    report.append(
                        f"{cache}: first token {one * 1000:.0f} ms, {(many - one) / args.steps * 1000:.1f} ms/step"
                    )
            if torch.cuda.is_available():
                report.append(f"peak {torch.cuda.max_memory_allocated() / 1024**3:.1f} GiB")
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            log("; ".join(report))

    if args.trace:
        from torch.profiler import ProfilerActivity, profile

        batch = rows(int(args.batches.split(",")[-1]))
        with debater.role(None) as model, profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            hf_engine.generate_texts(model, debater, batch, max_new_tokens=9)
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25))


if __name__ == "__main__":
    main()
