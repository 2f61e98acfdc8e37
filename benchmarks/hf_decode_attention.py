# ruff: noqa: B023
"""What one decode step of the big passes costs, by attention path: the debaters' shared-prefix pass
(Phi-3 shape, no grouped-query attention, two lanes over one prefix) and the Judge's plain pass
(Mistral shape, grouped-query attention), graphed as the engine runs them, and a kernel table of a few
eager steps of each. Random-weight models of the real shapes (hf_throughput.build_models):

    python benchmarks/hf_decode_attention.py --work /dev/shm/bench --claims 128,256 --judge-rows 256
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from hf_throughput import DEFAULT_DATA, load_built_models, log, timed_s


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("/tmp/claimcourt-hf-bench"))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--claims", default="128", help="debater passes: claims (two lanes each)")
    parser.add_argument("--judge-rows", default="256")
    parser.add_argument("--prefix-tokens", type=int, default=650)
    parser.add_argument("--rest-tokens", type=int, default=75)
    parser.add_argument("--judge-prompt-tokens", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=32)
    parser.add_argument("--trace-dir", type=Path, default=None)
    parser.add_argument(
        "--attention",
        default="kernel,sdpa",
        help="decode attention: kernel (kernels.triton_decode_attention), sdpa (SDPA with the step's mask, "
        "as before), cudnn (the same under SDPA's cuDNN backend)",
    )
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--tiny", action="store_true", help="tiny models on CPU (checks the script only)")
    args = parser.parse_args()

    import torch

    from claimcourt.models.hf import engine as hf_engine
    from claimcourt.models.hf.decode import loop as hf_decode
    from claimcourt.models.hf.decode import shared_prefix as hf_shared_prefix
    from claimcourt.models.hf.decode.plan import DecodePlan

    debater, judge = load_built_models(args.work, args.data, tiny=args.tiny)
    vocab = len(debater.tokenizer)
    gen = torch.Generator().manual_seed(0)
    cuda = torch.cuda.is_available()
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    def tokens(n: int) -> list[int]:
        return torch.randint(10, vocab, (n,), generator=gen).tolist()

    def ms_per_step(run) -> tuple[float, float]:  # type: ignore[no-untyped-def]
        """(first-token ms, decode ms/step): the fastest of a few runs of 1 and 1 + steps tokens."""
        run(1 + args.steps)  # warm: the capture at this size
        one = min(timed_s(lambda: run(1)) for _ in range(2))
        many = min(timed_s(lambda: run(1 + args.steps)) for _ in range(2))
        return one * 1e3, (many - one) / args.steps * 1e3

    def trace(run, name: str) -> None:  # type: ignore[no-untyped-def]
        if args.trace_dir is None:
            return
        from torch.profiler import ProfilerActivity, profile

        args.trace_dir.mkdir(parents=True, exist_ok=True)
        run(9, use_graph=False)
        # The prefill alone, then the prefill and 8 eager steps: the steps' kernels are the difference.
        for label, k in (("prefill", 1), ("prefill_and_8_steps", 9)):
            with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                run(k, use_graph=False)
                sync()
            table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=30, max_name_column_width=80)
            (args.trace_dir / f"{name}_{label}.txt").write_text(table, encoding="utf-8")

    results: list[dict[str, object]] = []
    stops = hf_engine.stop_token_ids(debater)
    from contextlib import contextmanager

    from torch.nn.attention import SDPBackend, sdpa_kernel

    attending = {"attention": "kernel"}  # the plan's decode attention, set by `decode_attention`

    def plan(use_graph: bool) -> DecodePlan:
        return DecodePlan(attention=attending["attention"], prefill_tokens=16384, capture=use_graph)

    @contextmanager
    def decode_attention(name: str):  # type: ignore[no-untyped-def]
        """kernel / sdpa: hf.decode_attention; cudnn: sdpa under SDPA's cuDNN backend."""
        attending["attention"] = "kernel" if name == "kernel" else "sdpa"
        if name == "cudnn":
            with sdpa_kernel([SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION]):
                yield
        else:
            yield

    def measure(row: dict[str, object], name: str, run) -> None:  # type: ignore[no-untyped-def]
        try:
            with decode_attention(name):
                first, step = ms_per_step(run)
                trace(run, f"{row['model']}_{row.get('claims', row.get('rows'))}_{name}")
        except RuntimeError as exc:
            log(f"{name}: {str(exc).splitlines()[0]}")
            return
        row.update(attention=name, first_token_ms=round(first, 1), ms_per_step=round(step, 2))
        if cuda:
            row["peak_gib"] = round(torch.cuda.max_memory_allocated() / 1024**3, 2)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        results.append(row)
        log(json.dumps(row))

    names = [a for a in args.attention.split(",") if a]
    for n in [int(x) for x in args.claims.split(",") if x]:
        groups = []
        for _ in range(n):
            prefix = tokens(args.prefix_tokens)
            groups.append([prefix + tokens(args.rest_tokens), prefix + tokens(args.rest_tokens + 3)])
        with debater.role(None) as model:

            def run(k: int, use_graph: bool = True) -> None:
                hf_shared_prefix.decode_shared(
                    model, debater, groups, max_new_tokens=k, stop_ids=stops, plan=plan(use_graph)
                )

            for name in names:
                measure({"model": "debater", "claims": n, "lanes": 2}, name, run)
    stops = hf_engine.stop_token_ids(judge)
    for n in [int(x) for x in args.judge_rows.split(",") if x]:
        rows = [tokens(args.judge_prompt_tokens - (i % 7)) for i in range(n)]
        with judge.role("judge") as model:

            def run(k: int, use_graph: bool = True) -> None:
                hf_decode.decode_greedy(model, judge, rows, max_new_tokens=k, stop_ids=stops, plan=plan(use_graph))

            for name in names:
                measure({"model": "judge", "rows": n}, name, run)
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
