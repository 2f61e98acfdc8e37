# ruff: noqa: B023
"""Where a batched hf pass spends its time: prefill, and decode ms/step through transformers' generate
against hf_decode's graphed loop (static cache), by batch; and whether both give the same tokens.

Builds (or reuses) the random-weight models of hf_throughput.py and times the engine's own calls:

    python benchmarks/hf_profile.py --work /dev/shm/bench --batches 36,256 --judge-batches 51,256
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hf_throughput import DEFAULT_DATA, load_built_models, log, timed_s


def trace_decode(model, loaded, batch, name: str, out: Path) -> None:  # type: ignore[no-untyped-def]
    """torch.profiler's kernel table over 8 decode steps of hf_decode, eager and graphed."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from claimcourt.models.hf import engine as hf_engine
    from claimcourt.models.hf.decode import loop as hf_decode
    from claimcourt.models.hf.decode.plan import DecodePlan

    out.mkdir(parents=True, exist_ok=True)
    stops = hf_engine.stop_token_ids(loaded)
    for use_graph in (False, True):
        plan = DecodePlan(prefill_tokens=None, capture=use_graph)
        hf_decode.decode_greedy(model, loaded, batch, max_new_tokens=9, stop_ids=stops, plan=plan)
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            hf_decode.decode_greedy(model, loaded, batch, max_new_tokens=9, stop_ids=stops, plan=plan)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
        table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=30, max_name_column_width=70)
        path = out / f"trace_{name}_{'graphed' if use_graph else 'eager'}.txt"
        path.write_text(table, encoding="utf-8")
        log(f"wrote {path}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("/tmp/claimcourt-hf-bench"))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    # The pass sizes of hf_throughput.py's runs: ~36 debater rows / ~51 Judge rows under 22GiB, 256 unbounded.
    parser.add_argument("--batches", default="36,256")
    parser.add_argument("--judge-batches", default="51,256")
    parser.add_argument("--prompt-tokens", type=int, default=723)
    parser.add_argument("--judge-prompt-tokens", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--trace-dir", type=Path, default=None, help="kernel tables of 8 decode steps, per path")
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--trace", action="store_true", help="torch.profiler table of one decode run")
    parser.add_argument("--tiny", action="store_true", help="tiny models on CPU (checks the script only)")
    args = parser.parse_args()

    import torch

    from claimcourt.models.hf import engine as hf_engine
    from claimcourt.models.hf.decode.plan import DecodePlan
    from claimcourt.models.hf.prompts import label_token_ids

    # transformers' generate over each cache, and the graphed loop with its prefill in one piece.
    dynamic, static = (DecodePlan(graphed=False, cache_implementation=c) for c in ("dynamic", "static"))
    graphed = DecodePlan(prefill_tokens=None)

    debater, judge = load_built_models(args.work, args.data, tiny=args.tiny)
    vocab = len(debater.tokenizer)
    gen = torch.Generator().manual_seed(0)

    def rows(b: int, length: int) -> list[list[int]]:
        low = min(10, vocab // 2)
        return [torch.randint(low, vocab, (length - (i % 7),), generator=gen).tolist() for i in range(b)]

    results: list[dict[str, object]] = []
    plans = (
        ("debater", debater, None, args.batches, args.prompt_tokens),
        ("judge", judge, "judge", args.judge_batches, args.judge_prompt_tokens),
    )
    for name, loaded, adapter, batches, prompt_tokens in plans:
        for b in [int(x) for x in batches.split(",")]:
            batch = rows(b, prompt_tokens)
            with loaded.role(adapter) as model:
                timed_s(lambda: hf_engine.generate_texts(model, loaded, batch[:1], max_new_tokens=2, plan=dynamic))
                prefill = timed_s(
                    lambda: hf_engine.label_logits(model, loaded, batch, label_token_ids(loaded.tokenizer))
                )
                row: dict[str, object] = {"model": name, "rows": b, "prompt_tokens": prompt_tokens}
                row["prefill_ms"] = round(prefill * 1000, 1)
                outputs: dict[str, list[list[int]]] = {}
                for decode in ("generate", "graphed"):

                    def run_decode(n: int) -> list[list[int]]:
                        plan = static if decode == "generate" else graphed.for_pass(loaded, prompt_tokens + n)
                        return hf_engine.generate_texts(model, loaded, batch, max_new_tokens=n, plan=plan)

                    run_decode(1 + args.steps)  # warm (the graph path's first capture at this size)
                    # The fastest of a few: the first passes at a size pay for allocations and clocks.
                    one = min(timed_s(lambda: run_decode(1)) for _ in range(3))
                    many = min(
                        timed_s(lambda: outputs.__setitem__(decode, run_decode(1 + args.steps))) for _ in range(2)
                    )
                    row[f"{decode}_first_token_ms"] = round(one * 1000, 1)
                    row[f"{decode}_ms_per_step"] = round((many - one) / args.steps * 1000, 2)
                # How often two transformers paths already disagree (random weights: near-tied logits).
                short = 1 + min(args.steps, 32)
                dynamic_rows = hf_engine.generate_texts(model, loaded, batch, max_new_tokens=short, plan=dynamic)
                row["rows_same_generate_vs_graphed"] = sum(
                    a[:short] == g[:short] for a, g in zip(outputs["generate"], outputs["graphed"], strict=True)
                )
                row["rows_same_generate_static_vs_dynamic"] = sum(
                    a[:short] == d for a, d in zip(outputs["generate"], dynamic_rows, strict=True)
                )
                row["compared_tokens"] = short
                if args.trace_dir is not None:
                    trace_decode(model, loaded, batch, name, args.trace_dir)
            if torch.cuda.is_available():
                row["peak_gib"] = round(torch.cuda.max_memory_allocated() / 1024**3, 2)
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            results.append(row)
            log(json.dumps(row))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2), encoding="utf-8")

    if args.trace:
        from torch.profiler import ProfilerActivity, profile

        batch = rows(int(args.batches.split(",")[-1]), args.prompt_tokens)
        with debater.role(None) as model, profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            hf_engine.generate_texts(model, debater, batch, max_new_tokens=9, plan=dynamic)
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25))


if __name__ == "__main__":
    main()
