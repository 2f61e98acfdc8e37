"""Throughput and memory of the hf profile: batched `claimcourt run` against one claim at a time.

Random-weight models of the real shapes cost the same to run as the trained weights:
- debaters: the Phi-3-mini-4k-instruct configuration (3.8B, 32 layers, 32 KV heads: no GQA);
- Judge: the Mistral-7B-v0.1 configuration plus a LoRA adapter (r=16, alpha 32, q_proj/v_proj);
- both saved in bf16 to local disk and loaded through the real loading path (4-bit NF4 at load).
A byte-level BPE tokenizer (32k) and a MiniLM-shaped embedder are trained/initialised on the claims.

Then, in one process:
1. `claimcourt run` on N claims (the CLI's run: graph, SQLite checkpointer, Chroma retrieval, batching
   underneath), once per memory budget (22GiB, and unbounded); peak GPU memory per run;
2. the reference way on a few claims: one claim at a time, one `generate` per role (langchain-huggingface
   pipeline for the debaters, the Judge's forward pass + rationale on a batch of one).
Models are loaded once and shared by all runs; load time is reported apart from the run times.

    python benchmarks/hf_throughput.py --claims 256 --reference-claims 3
    python benchmarks/hf_throughput.py --tiny --claims 16   # CPU smoke run with tiny models
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import os
import random
import time
from pathlib import Path
from typing import Any

# Freed KV caches of different sizes leave holes in the allocator's blocks; expandable segments let it
# reuse them, so the memory budget holds without out-of-memory retries (set before torch loads).
os.environ.setdefault("PYTORCH_CUDA_ALLOC_CONF", "expandable_segments:True")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "silver_claims.csv"

PHI3_MINI = {
    "hidden_size": 3072,
    "intermediate_size": 8192,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
    "vocab_size": 32064,
    "max_position_embeddings": 4096,
    "original_max_position_embeddings": 4096,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-5,
    "sliding_window": 2047,
    "tie_word_embeddings": False,
}
MISTRAL_7B = {
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_hidden_layers": 32,
    "num_attention_heads": 32,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 32000,
    "max_position_embeddings": 32768,
    "rope_theta": 10000.0,
    "rms_norm_eps": 1e-5,
    "sliding_window": 4096,
    "tie_word_embeddings": False,
}
MINILM_SHAPE = {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536}
TINY = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
}
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def read_claims(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return [{"id": r["id"], "text": r["text"], "label": r["label"]} for r in csv.DictReader(fh)]


def build_tokenizer(texts: list[str], out: Path, vocab: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<s>", "</s>", "<pad>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    return fast


def build_embedder(texts: list[str], out: Path, shape: dict[str, int]) -> None:
    """A random encoder of MiniLM's shape with a WordPiece vocabulary: retrieval costs what it would."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=8000, special_tokens=specials))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]",
        mask_token="[MASK]", model_max_length=256,
    )  # fmt: skip
    fast.save_pretrained(out)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(fast), max_position_embeddings=512, **shape)).save_pretrained(out)


def build_models(work: Path, texts: list[str], *, tiny: bool) -> dict[str, Path]:
    """Random-weight models of the real shapes, saved in bf16 (built on the GPU, where there is one)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import MistralConfig, MistralForCausalLM, Phi3Config, Phi3ForCausalLM

    paths = {name: work / name for name in ("tokenizer", "phi3", "mistral", "adapter", "embedder")}
    if all((p / "config.json").exists() or (p / "adapter_config.json").exists() for p in paths.values()):
        return paths
    tokenizer = build_tokenizer(texts, paths["tokenizer"], 32000)
    build_embedder(texts, paths["embedder"], TINY if tiny else MINILM_SHAPE)
    special = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    torch.manual_seed(0)
    for name, cls, config in (
        ("phi3", Phi3ForCausalLM, Phi3Config(**{**PHI3_MINI, **(TINY if tiny else {}), **special})),
        ("mistral", MistralForCausalLM, MistralConfig(**{**MISTRAL_7B, **(TINY if tiny else {}), **special})),
    ):
        if tiny:
            config.head_dim = config.hidden_size // config.num_attention_heads
        start = time.perf_counter()
        previous = torch.get_default_dtype()
        torch.set_default_dtype(dtype)
        try:
            with torch.device(device):
                model = cls(config)
        finally:
            torch.set_default_dtype(previous)
        model.save_pretrained(paths[name], max_shard_size="4GB")
        tokenizer.save_pretrained(paths[name])
        if name == "mistral":
            lora = get_peft_model(
                model,
                LoraConfig(
                    r=16, lora_alpha=32, target_modules=["q_proj", "v_proj"], lora_dropout=0.0, init_lora_weights=False
                ),
            )
            lora.save_pretrained(paths["adapter"])
        del model
        if device == "cuda":
            torch.cuda.empty_cache()
        log(f"built {name} ({cls.__name__}) in {time.perf_counter() - start:.1f}s")
    return paths


def timed_s(fn: Any) -> float:
    """Seconds `fn()` takes, the GPU's queued work included (synchronised before and after)."""
    import torch

    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    sync()
    t0 = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0


def load_built_models(work: Path, data: Path, *, tiny: bool) -> tuple[Any, Any]:
    """The debater and the Judge (with its adapter) as the engine loads them, from the random-weight
    models build_models makes (or finds) under `work`; for the scripts that time the engine's calls."""
    from claimcourt.config import HFSettings
    from claimcourt.models.hf.loading import ModelRegistry

    paths = build_models(work / "models", [c["text"] for c in read_claims(data)], tiny=tiny)
    settings = HFSettings(
        debater_model=str(paths["phi3"]),
        judge_model=str(paths["mistral"]),
        judge_adapter=str(paths["adapter"]),
        **({"quantization": "none", "compute_dtype": "float32"} if tiny else {}),
    )
    registry = ModelRegistry(settings)
    return registry.get(settings.debater_model), registry.get(settings.judge_model)


def write_inputs(work: Path, claims: list[dict[str, str]], n_batch: int) -> tuple[Path, Path]:
    """Labelled claims for the index, and a batch of claims long enough to fill the claim budget."""
    rng = random.Random(7)
    shuffled = claims[:]
    rng.shuffle(shuffled)
    batch_src, labelled = shuffled[: min(n_batch, len(shuffled) // 2)], shuffled[min(n_batch, len(shuffled) // 2) :]
    labelled_csv = work / "labelled.csv"
    with labelled_csv.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "text", "label"])
        writer.writeheader()
        writer.writerows(labelled)
    batch_csv = work / "batch.csv"
    with batch_csv.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "text"])
        writer.writeheader()
        for i in range(n_batch):
            first, second = batch_src[i % len(batch_src)], batch_src[(i + 1) % len(batch_src)]
            writer.writerow({"id": f"B{i:04d}-{first['id']}", "text": first["text"] + " " + second["text"]})
    return labelled_csv, batch_csv


def variants(args: argparse.Namespace) -> list[tuple[str, bool, int, str, bool]]:
    """The runs to make: (budget, shared prefix, prefill tokens, decode attention, fused prefill); what a
    variant leaves out is hf's default."""
    from claimcourt.config import HFSettings

    defaults = HFSettings()
    default_ops = "fused" if defaults.fused_prefill else "eager"
    if args.variants:
        runs = []
        for spec in args.variants.split(","):
            budget, shared, prefill, *rest = spec.strip().split("/")
            attention = rest[0] if rest else defaults.decode_attention
            fused = (rest[1] if len(rest) > 1 else default_ops) == "fused"
            runs.append((budget, shared == "on", int(prefill), attention, fused))
        return runs
    shared_variants = {"on": [True], "off": [False], "both": [False, True]}[args.shared_prefix]
    budgets = [b.strip() for b in args.budgets.split(",") if b.strip()]
    prefills = [int(t) for t in args.prefill_tokens.split(",")]
    return [
        (b, v, t, defaults.decode_attention, defaults.fused_prefill)
        for b in budgets
        for v in shared_variants
        for t in prefills
    ]


def gib(n: float) -> float:
    return n / 1024**3


def _union_s(spans: list[tuple[float, float]]) -> float:
    total, reach = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


def timeline(started: float, ended: float, stats: dict[str, Any]) -> dict[str, float]:
    """Where a run's seconds went: inside the model passes (the device busy) and outside them (the
    device idle), the latter split into before the first pass, after the last, and in between; and
    how much of the idle time was spent rendering prompts (in the batch's own thread, on the path)."""
    passes = [span for st in stats.values() for span in st.pass_spans if span[0] >= started]
    renders = [span for st in stats.values() for span in st.render_spans if span[0] >= started]
    if not passes:
        return {}
    in_passes = _union_s(passes)
    before = min(start for start, _ in passes) - started
    after = ended - max(end for _, end in passes)
    idle = (ended - started) - in_passes
    return {
        "in_passes_s": round(in_passes, 2),
        "outside_passes_s": round(idle, 2),
        "before_first_pass_s": round(before, 2),
        "between_passes_s": round(idle - before - after, 2),
        "after_last_pass_s": round(after, 2),
        # Rendering that did not overlap a pass: time the device waited for prompts.
        "rendering_idle_s": round(_union_s(passes + renders) - in_passes, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/claimcourt-hf-bench"))
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--claims", type=int, default=256)
    parser.add_argument("--reference-claims", type=int, default=3)
    parser.add_argument("--warm-runs", type=int, default=1, help="untimed runs of the first variant before the rest")
    parser.add_argument("--budgets", default="22GiB,none", help="comma-separated; 'none' = unbounded")
    parser.add_argument("--max-batch-size", type=int, default=256)
    parser.add_argument("--max-concurrency", type=int, default=256)
    parser.add_argument("--cache", choices=["dynamic", "static"], default="static")
    parser.add_argument(
        "--shared-prefix", choices=["on", "off", "both"], default="on", help="Advocate/Skeptic over one prefix copy"
    )
    parser.add_argument("--prefill-tokens", default="16384", help="comma-separated hf.prefill_tokens (0: one prefill)")
    parser.add_argument(
        "--variants",
        default=None,
        help="explicit runs BUDGET/SHARED/PREFILL[/ATTENTION[/OPS]], comma-separated (e.g. 22GiB/off/0/sdpa,"
        "22GiB/on/16384,none/on/16384/sdpa/eager); ATTENTION: hf.decode_attention, kernel "
        "(kernels.triton_decode_attention, the default) or sdpa; OPS: hf.fused_prefill, fused (the default) or "
        "eager; overrides --budgets, --shared-prefix and --prefill-tokens",
    )
    # The issue's budgets: debater prompts of about 700 tokens, Judge prompts of about 1000.
    parser.add_argument("--claim-tokens", type=int, default=220)
    parser.add_argument("--neighbour-tokens", type=int, default=30)
    parser.add_argument("--judge-neighbour-tokens", type=int, default=94)
    parser.add_argument("--debater-new-tokens", type=int, default=128)
    parser.add_argument("--rationale-tokens", type=int, default=64)
    parser.add_argument("--tiny", action="store_true", help="tiny models, no quantisation (CPU smoke run)")
    parser.add_argument("--json-out", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="[%(asctime)s] %(name)s: %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("claimcourt").setLevel(logging.INFO)

    import torch

    from claimcourt.cli.run import execute_run
    from claimcourt.config import load_settings
    from claimcourt.deps import Deps, build_search
    from claimcourt.jobs.index import index_file
    from claimcourt.models.hf.backend import HFBackend
    from claimcourt.models.hf.loading import ModelRegistry
    from claimcourt.models.hf.reference import OneAtATime
    from claimcourt.state import ClaimState

    cuda = torch.cuda.is_available()
    args.work.mkdir(parents=True, exist_ok=True)
    claims = read_claims(args.data)
    t0 = time.perf_counter()
    paths = build_models(args.work / "models", [c["text"] for c in claims], tiny=args.tiny)
    build_s = time.perf_counter() - t0
    labelled_csv, batch_csv = write_inputs(args.work, claims, args.claims)

    base = {
        "profile": "hf",
        "workspace": str(args.work / "ws"),
        "max_concurrency": args.max_concurrency,
        "retrieval": {"top_k": 5, "batch_size": 256},
        "hf": {
            "embedding_model": str(paths["embedder"]),
            "debater_model": str(paths["phi3"]),
            "judge_model": str(paths["mistral"]),
            "judge_adapter": str(paths["adapter"]),
            "quantization": "none" if args.tiny else "nf4",
            "compute_dtype": "float32" if args.tiny else "bfloat16",
            "claim_max_tokens": args.claim_tokens,
            "neighbour_max_tokens": args.neighbour_tokens,
            "judge_neighbour_max_tokens": args.judge_neighbour_tokens,
            "debater_max_new_tokens": args.debater_new_tokens,
            "judge_rationale_tokens": args.rationale_tokens,
            "max_batch_size": args.max_batch_size,
            "cache_implementation": args.cache,
        },
    }
    settings = load_settings(overrides=base, environ={})
    search = build_search(settings)
    t0 = time.perf_counter()
    index_file(labelled_csv, settings, search=search)
    log(f"indexed {labelled_csv} in {time.perf_counter() - t0:.1f}s")

    registry = ModelRegistry(settings.hf)
    t0 = time.perf_counter()
    HFBackend(settings.hf, registry=registry).load()
    load_s = time.perf_counter() - t0
    weights = torch.cuda.memory_allocated() if cuda else 0
    log(f"loaded both models in {load_s:.1f}s ({gib(weights):.2f} GiB of weights on the GPU)")

    # Warm-up: CUDA kernels, cuBLAS handles, bitsandbytes' first calls (not timed); again before the
    # first run of each decode attention and prefill ops, for triton's compiles (a process pays them
    # once; triton's disk cache keeps them for the next).
    async def warm_up(attention: str, fused: bool) -> None:
        decode = {"decode_attention": attention, "fused_prefill": fused}
        warm = HFBackend(settings.hf.model_copy(update=decode), registry=registry)
        state = ClaimState(claim_id="warm", text=claims[0]["text"])
        state = state.model_copy(update={"neighbours": await search.neighbours("warm", state.text)})
        a, s = await asyncio.gather(warm.argue("advocate", state), warm.argue("skeptic", state))
        await warm.judge(state.model_copy(update={"advocate": a, "skeptic": s}))

    asyncio.run(warm_up(settings.hf.decode_attention, settings.hf.fused_prefill))
    warmed = {("sdpa", False)}

    results: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "claims": args.claims,
        "build_models_s": round(build_s, 1),
        "load_models_s": round(load_s, 1),
        "weights_gib": round(gib(weights), 2),
        "runs": [],
    }
    reference_backend: HFBackend | None = None
    planned = variants(args)
    # The first runs of a process are slower whatever they run (5-10% on an H100: triton's and the CUDA
    # graphs' first shapes, the allocator's first blocks): warm runs of the first variant, not recorded.
    schedule = [(True, planned[0])] * args.warm_runs + [(False, v) for v in planned]
    for warming, (budget, shared_prefix, prefill_tokens, attention, fused) in schedule:
        # The models stay loaded across runs; each run's settings say how it decodes.
        if (attention, fused) not in warmed:
            t0 = time.perf_counter()
            asyncio.run(warm_up(attention, fused))
            warmed.add((attention, fused))
            log(
                f"warmed decode attention {attention}, prefill ops {'fused' if fused else 'eager'} in "
                f"{time.perf_counter() - t0:.1f}s"
            )
        gpu_memory = None if budget.lower() in ("none", "unbounded") else budget
        hf = {
            **base["hf"],
            "gpu_memory": gpu_memory,
            "shared_prefix": shared_prefix,
            "prefill_tokens": prefill_tokens,
            "decode_attention": attention,
            "fused_prefill": fused,
        }
        run_settings = load_settings(overrides={**base, "hf": hf}, environ={})
        backend = HFBackend(run_settings.hf, registry=registry, claims_at_once=run_settings.max_concurrency)
        deps = Deps(settings=run_settings, search=search, backend=backend)
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        run_id = f"bench-{budget}-{int(time.time())}"
        t0 = time.perf_counter()
        summary = execute_run(
            run_settings, batch_csv, run_id=run_id, output=args.work / f"{run_id}.csv", limit=None, deps=deps
        )
        finished = time.perf_counter()
        elapsed = finished - t0
        peak_alloc = torch.cuda.max_memory_allocated() if cuda else 0
        peak_reserved = torch.cuda.max_memory_reserved() if cuda else 0
        done = summary.progress.done - summary.progress.skipped
        run = {
            "gpu_memory": budget,
            "shared_prefix": shared_prefix,
            "prefill_tokens": prefill_tokens,
            "decode_attention": attention,
            "fused_prefill": fused,
            "claims_done": done,
            "counts": summary.counts,
            "seconds": round(elapsed, 2),
            "claims_per_s": round(done / elapsed, 3),
            "peak_allocated_gib": round(gib(peak_alloc), 2),
            "peak_reserved_gib": round(gib(peak_reserved), 2),
            "batches": {
                role: {
                    "chunks": st.chunks,
                    "rows": st.rows,
                    "shared_rows": st.shared_rows,
                    "mean_rows": round(st.mean_size, 1),
                    "sizes": st.sizes,
                    "oom_retries": st.oom_retries,
                    "mean_prompt_tokens": round(st.prompt_tokens / st.rows, 1) if st.rows else 0,
                    "padding_share": round(1 - st.prompt_tokens / st.padded_tokens, 3) if st.padded_tokens else 0,
                }
                for role, st in backend.stats.items()
                if st.rows
            },
            "timeline": timeline(t0, finished, backend.stats),
            "first_error": summary.first_error,
        }
        if warming:
            log(f"warm run (not recorded): {run['claims_per_s']} claims/s")
            continue
        results["runs"].append(run)
        log(json.dumps(run))
        if gpu_memory is None and reference_backend is None:
            reference_backend = backend

    if args.reference_claims:
        backend = reference_backend or HFBackend(settings.hf, registry=registry)
        backend._device_ready = False
        backend._prepare_device()
        reference = OneAtATime(backend)
        picked = list(csv.DictReader(batch_csv.open(encoding="utf-8", newline="")))[: args.reference_claims]
        states = []
        for row in picked:
            state = ClaimState(claim_id=row["id"], text=row["text"])
            neighbours = asyncio.run(search.neighbours(state.claim_id, state.text))
            states.append(state.model_copy(update={"neighbours": neighbours}))
        reference.debate(states[0])  # the pipeline's own warm-up, not timed
        t0 = time.perf_counter()
        per_claim = []
        for state in states:
            s0 = time.perf_counter()
            reference.debate(state)
            per_claim.append(time.perf_counter() - s0)
        elapsed = time.perf_counter() - t0
        results["reference"] = {
            "claims": len(states),
            "seconds": round(elapsed, 2),
            "seconds_per_claim": [round(s, 2) for s in per_claim],
            "claims_per_s": round(len(states) / elapsed, 4),
        }
        log(json.dumps(results["reference"]))
        for run in results["runs"]:
            run["speedup_vs_one_at_a_time"] = round(run["claims_per_s"] / results["reference"]["claims_per_s"], 1)

    print("\n== hf throughput ==")
    print(f"device: {results['device']}; models built in {build_s:.0f}s, loaded (4-bit) in {load_s:.0f}s")
    for run in results["runs"]:
        batches = ", ".join(
            f"{role} {b['chunks']} passes of ~{b['mean_rows']:.0f} rows, ~{b['mean_prompt_tokens']:.0f} prompt tokens"
            for role, b in run["batches"].items()
        )
        print(
            f"claimcourt run, gpu_memory={run['gpu_memory']}, shared prefix {'on' if run['shared_prefix'] else 'off'}, "
            f"prefill slices {run['prefill_tokens'] or 'off'}, decode attention {run['decode_attention']}, "
            f"prefill ops {'fused' if run.get('fused_prefill') else 'eager'}: "
            f"{run['claims_done']} claims in {run['seconds']:.1f}s = "
            f"{run['claims_per_s']:.2f} claims/s; peak GPU memory {run['peak_reserved_gib']:.1f} GiB reserved "
            f"({run['peak_allocated_gib']:.1f} allocated); {batches}"
            + (f"; {run.get('speedup_vs_one_at_a_time')}x one-at-a-time" if "reference" in results else "")
        )
        if run["timeline"]:
            t = run["timeline"]
            print(
                f"  {t['in_passes_s']:.2f}s in model passes, {t['outside_passes_s']:.2f}s outside them: "
                f"{t['before_first_pass_s']:.2f}s before the first, {t['between_passes_s']:.2f}s between, "
                f"{t['after_last_pass_s']:.2f}s after the last; {t['rendering_idle_s']:.2f}s of them rendering prompts"
            )
    if "reference" in results:
        ref = results["reference"]
        print(
            f"one claim at a time: {ref['claims']} claims in {ref['seconds']:.1f}s = "
            f"{ref['claims_per_s']:.3f} claims/s "
            f"(per claim: {', '.join(f'{s:.1f}s' for s in ref['seconds_per_claim'])})"
        )
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(results, indent=2), encoding="utf-8")
    if os.environ.get("HF_BENCH_STATS"):
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
